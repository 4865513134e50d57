/**
 * Import of PyPubSub's backlog file: one JSON object per line,
 * `{"timestamp": float, "topics": [...], "json": {...}, "private": bool}`. Each entry
 * becomes an event with its original timestamp and a new time-ordered cursor, so a
 * history started from a PyPubSub backlog replays it in order.

 * `tools/import_backlog.ts` runs it as a script.
 *
 * @module
 */

import { Event, newCursor } from "../core/event.ts";
import type { History } from "./history.ts";

/** What an import did. */
export interface ImportResult {
  /** Entries appended to the history. */
  imported: number;
  /** Lines that were not a valid backlog entry (blank lines aside). */
  skipped: number;
}

/**
 * Appends the entries of PyPubSub backlog file `path` to `history`, in file order, and
 * flushes it. Invalid lines are skipped and counted.
 *
 * @throws {Error} when the file cannot be read, or (with `sync` storage) written.
 * @example
 * ```ts
 * import { openHistory } from "./open.ts";
 * import { importPyPubSubBacklog } from "./pypubsub_import.ts";
 * const file = await Deno.makeTempFile();
 * await Deno.writeTextFile(file, '{"timestamp": 1.5, "topics": ["a"], "json": {}, "private": false}\n');
 * const history = await openHistory({ size: 10, maxAge: 0 });
 * const { imported } = await importPyPubSubBacklog(file, history);
 * console.assert(imported === 1 && history.since(0)[0]!.path === "/a");
 * await history.close();
 * await Deno.remove(file);
 * ```
 */
export async function importPyPubSubBacklog(path: string, history: History): Promise<ImportResult> {
  const text = await Deno.readTextFile(path);
  const writes: Promise<void>[] = [];
  let skipped = 0;
  for (const line of text.split("\n")) {
    if (line.trim() === "") continue;
    const event = parseBacklogEntry(line);
    if (event) writes.push(history.append(event));
    else skipped++;
  }
  await Promise.all(writes);
  await history.flush();
  return { imported: writes.length, skipped };
}

/**
 * One backlog line as an event, or undefined when it is not a valid entry. The entry's
 * `pubsub_*` fields are replaced by a new envelope; the path is rebuilt from the topics
 * as PyPubSub does, with `/private` in front for private entries.
 */
export function parseBacklogEntry(line: string): Event | undefined {
  let entry: unknown;
  try {
    entry = JSON.parse(line, keepNumberSource);
  } catch {
    return undefined;
  }
  if (typeof entry !== "object" || entry === null) return undefined;
  const e = entry as Record<string, unknown>;
  const timestamp = numberValue(e.timestamp);
  const topics = e.topics;
  const json = e.json;
  if (
    timestamp === undefined || timestamp < 0 || !Array.isArray(topics) ||
    !topics.every((t) => typeof t === "string") || typeof json !== "object" ||
    json === null || Array.isArray(json)
  ) {
    return undefined;
  }
  const isPrivate = e.private === true;
  const path = "/" + (isPrivate ? ["private", ...topics] : topics).join("/");
  const cursor = newCursor(Math.floor(timestamp * 1000));
  const envelope = {
    pubsub_timestamp: timestamp,
    pubsub_topics: topics,
    pubsub_path: path,
    pubsub_cursor: cursor,
  };
  return new Event({
    cursor,
    timestamp,
    topics,
    path,
    private: isPrivate,
    json: JSON.stringify(Object.assign(json, envelope)),
  });
}

// `JSON.rawJSON` is in V8 but not yet in TypeScript's lib files.
const rawJSON = (JSON as unknown as { rawJSON(text: string): unknown }).rawJSON;

/** Number literals are kept as their source text, so 12345678901234567890 stays exact. */
function keepNumberSource(_key: string, value: unknown, ctx?: { source?: string }): unknown {
  return typeof value === "number" && ctx?.source !== undefined ? rawJSON(ctx.source) : value;
}

function numberValue(v: unknown): number | undefined {
  const source = (v as { rawJSON?: unknown } | null)?.rawJSON;
  const n = typeof source === "string" ? Number(source) : NaN;
  return Number.isFinite(n) ? n : undefined;
}
