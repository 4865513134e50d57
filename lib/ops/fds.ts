/**
 * The process's open-file limit and the streams it leaves room for. Every stream holds a
 * descriptor, and so does every publisher's connection, an admin scrape, the history file;
 * when streams take them all, publishers are refused by the kernel, not by an answer.
 *
 * Deno raises its soft limit to the hard one at start, so the soft limit is the one that
 * counts. Deno lets a program read its own `/proc/self/limits` only with `--allow-all`, so
 * a `cat` child reads its own instead: a child inherits its parent's limits. That is the
 * one use of `--allow-run=cat`; without it, or off Linux, the limit is unknown here.
 *
 * @module
 */

import { log } from "../log.ts";

/** An open-file limit; Infinity when unlimited. */
export interface FdLimit {
  readonly soft: number;
  readonly hard: number;
}

/** Below this soft limit the start-up log warns. */
export const LOW_FD_LIMIT = 8192;

/**
 * Parses the "Max open files" line of a Linux `/proc/PID/limits` file.
 *
 * @returns the limit, or null when the text has no such line.
 * @example
 * ```ts
 * import { parseFdLimit } from "./fds.ts";
 * const text = "Max open files            1024                 524288               files";
 * console.assert(parseFdLimit(text)?.hard === 524288);
 * ```
 */
export function parseFdLimit(text: string): FdLimit | null {
  const m = /^Max open files\s+(\d+|unlimited)\s+(\d+|unlimited)/m.exec(text);
  if (!m) return null;
  const value = (s: string) => s === "unlimited" ? Infinity : Number(s);
  return { soft: value(m[1]!), hard: value(m[2]!) };
}

/** Why the limit can be unknown, for the start-up log. */
export const UNKNOWN_FD_LIMIT =
  "open-file limit unknown: reading it needs Linux and --allow-run=cat";

/**
 * This process's open-file limit, read by a `cat` child (see the module comment).
 *
 * @returns the limit, or null when it cannot be read: not Linux, no `--allow-run=cat`
 *   (checked first, so Deno never prompts), no `cat`, or output without the line.
 */
export async function readFdLimit(): Promise<FdLimit | null> {
  if (Deno.build.os !== "linux") return null;
  if (Deno.permissions.querySync({ name: "run", command: "cat" }).state !== "granted") return null;
  try {
    const cat = new Deno.Command("cat", {
      args: ["/proc/self/limits"],
      stdin: "null",
      stdout: "piped",
      stderr: "null",
    });
    const { success, stdout } = await cat.output();
    return success ? parseFdLimit(new TextDecoder().decode(stdout)) : null;
  } catch {
    return null;
  }
}

/**
 * Descriptors kept from streams for everything else: 1 % of the limit, at least 100
 * (the process's own files, listeners, publishers' connections, the admin listener).
 */
export function fdReserve(limit: number): number {
  return Math.max(100, Math.ceil(limit / 100));
}

/** How many streams a soft limit leaves room for (0 for an unlimited one: no cap). */
export function streamsAllowedBy(limit: number): number {
  if (!Number.isFinite(limit)) return 0;
  return Math.max(1, limit - fdReserve(limit));
}

/**
 * Logs the open-file limit at start (a warning when it is low, or when `configured` asks
 * for more streams than it leaves room for) and returns the streams it allows: the
 * default of `server.max_streams`. 0 when the limit is unknown or unlimited: no cap.
 *
 * @param configured `server.max_streams` when set.
 * @param limit what {@link readFdLimit} found.
 */
export function streamsAllowedHere(configured: number | null, limit: FdLimit | null): number {
  const maxStreams = configured === null ? "open-file limit" : configured || "unlimited";
  if (limit === null) {
    log.info(UNKNOWN_FD_LIMIT, {
      max_streams: configured === null ? "unlimited" : maxStreams,
    });
    return 0;
  }
  const allowed = streamsAllowedBy(limit.soft);
  const fields = { open_files: limit.soft, streams_allowed: allowed, max_streams: maxStreams };
  if (limit.soft < LOW_FD_LIMIT) {
    log.warn("open-file limit is low; raise it (ulimit -n, systemd LimitNOFILE)", fields);
  } else if (configured !== null && (configured === 0 || configured > allowed)) {
    log.warn("server.max_streams is above what the open-file limit allows", fields);
  } else {
    log.info("open-file limit", fields);
  }
  return allowed;
}
