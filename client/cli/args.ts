/**
 * The command lines of `sub` and `pub`.
 *
 * @module
 */

import { parseArgs, type ParseArgsConfig } from "node:util";

/** The `--help` text. */
export const USAGE = `Usage:
  sub URL [--raw] [--cursor-file FILE] [--since EPOCH] [--user NAME] [--keepalive SECONDS]
  pub URL [JSON | -] [--user NAME] [--retries N]

sub prints the events of URL until stopped (SIGTERM, Ctrl-C), reconnecting and resuming
after the last event printed whenever the connection fails.
  --raw               each event as the server's JSON line (NDJSON), no keepalives
  --cursor-file FILE  start after the cursor in FILE (when it exists) and keep the cursor
                      of the last printed event in it
  --since EPOCH       without a cursor, start with the events since EPOCH (seconds)
  --keepalive SECONDS the server's keepalive interval (default 5); three without a byte
                      mean a dead connection

pub publishes a JSON object (the argument, or stdin for "-" or none) to URL and exits 0
once the server accepted it; otherwise it prints the status and reason and exits 1.
  --retries N         attempts after the first while the server is unreachable or busy
                      (default 5)

  --user NAME         log in as NAME; the password comes from DENOPUBSUB_PASSWORD, or is
                      asked on the terminal
  --help              show this help`;

/** What `sub` was asked for. */
export interface SubArgs {
  readonly url: string;
  readonly raw: boolean;
  readonly cursorFile: string | null;
  readonly since: number | null;
  readonly user: string | null;
  readonly keepaliveMs: number;
}

/** What `pub` was asked for. */
export interface PubArgs {
  readonly url: string;
  /** The JSON text; null to read it from stdin. */
  readonly json: string | null;
  readonly user: string | null;
  readonly retries: number;
}

/** A command line that cannot be run; its message is one line. */
export class UsageError extends Error {
  override name = "UsageError";
}

/**
 * Parses the arguments after `sub`.
 *
 * @throws {UsageError} naming the flag or value at fault.
 * @example
 * ```ts
 * import { parseSubArgs } from "./args.ts";
 * const args = parseSubArgs(["http://localhost:2069/git", "--raw"]);
 * console.assert(args.raw && args.keepaliveMs === 5000);
 * ```
 */
export function parseSubArgs(args: string[]): SubArgs {
  const { values, positionals } = parse(args, {
    raw: { type: "boolean", default: false },
    "cursor-file": { type: "string" },
    since: { type: "string" },
    user: { type: "string" },
    keepalive: { type: "string", default: "5" },
  });
  if (positionals.length !== 1) throw new UsageError("sub takes one URL");
  return {
    url: checkUrl(positionals[0]!),
    raw: values.raw === true,
    cursorFile: str(values["cursor-file"]),
    since: values.since === undefined ? null : positive("--since", values.since, 0),
    user: str(values.user),
    keepaliveMs: positive("--keepalive", values.keepalive, 0.01) * 1000,
  };
}

/**
 * Parses the arguments after `pub`.
 *
 * @throws {UsageError} naming the flag or value at fault.
 * @example
 * ```ts
 * import { parsePubArgs } from "./args.ts";
 * const args = parsePubArgs(["http://localhost:2069/git", '{"a": 1}']);
 * console.assert(args.json === '{"a": 1}' && args.retries === 5);
 * ```
 */
export function parsePubArgs(args: string[]): PubArgs {
  const { values, positionals } = parse(args, {
    user: { type: "string" },
    retries: { type: "string", default: "5" },
  });
  if (positionals.length < 1 || positionals.length > 2) {
    throw new UsageError("pub takes a URL and a JSON object (or - for stdin)");
  }
  const json = positionals[1];
  const retries = positive("--retries", values.retries, 0);
  if (!Number.isInteger(retries)) throw new UsageError("--retries must be a whole number");
  return {
    url: checkUrl(positionals[0]!),
    json: json === undefined || json === "-" ? null : json,
    user: str(values.user),
    retries,
  };
}

type Options = NonNullable<ParseArgsConfig["options"]>;

function parse<T extends Options>(args: string[], options: T) {
  try {
    return parseArgs({ args, options, strict: true, allowPositionals: true });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

function str(value: unknown): string | null {
  return typeof value === "string" ? value : null;
}

function positive(flag: string, value: string, min: number): number {
  const n = Number(value);
  if (value.trim() === "" || !Number.isFinite(n) || n < min) {
    throw new UsageError(`${flag} must be a number of at least ${min}, got "${value}"`);
  }
  return n;
}

/** An http(s) URL without credentials in it: passwords do not belong on a command line. */
function checkUrl(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(`"${text}" is not a URL`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new UsageError(`"${text}" is not an http:// or https:// URL`);
  }
  if (url.username || url.password) {
    throw new UsageError("put the user in --user and the password in DENOPUBSUB_PASSWORD");
  }
  return url.href;
}
