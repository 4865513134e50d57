/**
 * How `sub` prints an event: as the server's line (`--raw`), or for a person to read.
 *
 * @module
 */

import type { ReceivedLine } from "../subscribe.ts";

/** The fields the server adds; the readable form shows them in its heading instead. */
const ENVELOPE = new Set(["pubsub_topics", "pubsub_path", "pubsub_timestamp", "pubsub_cursor"]);

/**
 * The line exactly as the server sent it, as one NDJSON line.
 *
 * @example
 * ```ts
 * import { rawLine } from "./format.ts";
 * console.assert(rawLine({ line: '{"a":1}', event: { a: 1 } }) === '{"a":1}\n');
 * ```
 */
export function rawLine(received: ReceivedLine): string {
  return received.line + "\n";
}

/**
 * A heading with the event's time, path (or topics) and cursor, then the publisher's JSON
 * indented, then a blank line.
 *
 * @example
 * ```ts
 * import { readable } from "./format.ts";
 * const text = readable({
 *   line: "",
 *   event: { kind: "apple", pubsub_timestamp: 0, pubsub_path: "/fruits/apples" },
 * });
 * console.assert(text.startsWith("1970-01-01T00:00:00.000Z /fruits/apples"));
 * console.assert(text.includes('  "kind": "apple"'));
 * ```
 */
export function readable({ event }: ReceivedLine): string {
  const time = typeof event.pubsub_timestamp === "number"
    ? new Date(event.pubsub_timestamp * 1000).toISOString()
    : "(no time)";
  const where = event.pubsub_path ?? `/${(event.pubsub_topics ?? []).join("/")}`;
  const cursor = event.pubsub_cursor ? ` ${event.pubsub_cursor}` : "";
  const body = Object.fromEntries(Object.entries(event).filter(([key]) => !ENVELOPE.has(key)));
  return `${time} ${where}${cursor}\n${JSON.stringify(body, null, 2)}\n\n`;
}
