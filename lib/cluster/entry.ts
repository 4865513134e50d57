/**
 * What one event looks like in the Redis stream, and the event every node builds from it.
 * The publishing node checks the body and appends it without an envelope; each reader
 * adds the envelope, with the time and cursor taken from the entry id, so every node
 * builds the same bytes for the same entry.
 *
 * @module
 */

import { buildEvent, type Event, type PublishTarget } from "../core/event.ts";
import { cursorOfEntry, entryMs } from "./entry_id.ts";

/** The fields of a stream entry, as XADD writes them and XREAD returns them. */
export interface EntryFields {
  /** The event's number in the stream: 1, 2, 3, … with no gaps (see `sequence.ts`). */
  readonly n: string;
  /** The path as published, decoded, with a leading `/private` for a private event. */
  readonly path: string;
  /** The topics, a JSON array of strings. */
  readonly topics: string;
  /** `1` for a private event, `0` otherwise. */
  readonly private: string;
  /** The publisher's JSON object, as received. */
  readonly body: string;
}

/** A stream entry that is not an event this service wrote. */
export class EntryError extends Error {
  override name = "EntryError";
}

/**
 * The field values of an event's entry after `n`, in the order the append script takes
 * them: path, topics, private, body.
 *
 * @example
 * ```ts
 * import { entryValues } from "./entry.ts";
 * const values = entryValues({ path: "/a", topics: ["a"], private: false }, "{}");
 * console.assert(values[1] === '["a"]');
 * ```
 */
export function entryValues(target: PublishTarget, body: string): string[] {
  return [target.path, JSON.stringify(target.topics), target.private ? "1" : "0", body];
}

/**
 * Builds the event of a stream entry: envelope added, `pubsub_timestamp` and
 * `pubsub_cursor` from the entry id.
 *
 * @throws {EntryError} when a field is missing or malformed, or the body is not a JSON
 * object (an entry written by something else than a DenoPubSub node).
 */
export function eventOfEntry(id: string, fields: Record<string, string>): Event {
  const { path, body } = fields;
  if (path === undefined || body === undefined) throw new EntryError("no path or body field");
  const target = { path, topics: topicsOf(fields.topics), private: fields.private === "1" };
  try {
    return buildEvent(target, body, entryMs(id), cursorOfEntry(id));
  } catch (err) {
    throw new EntryError((err as Error).message);
  }
}

function topicsOf(text: string | undefined): string[] {
  let topics: unknown;
  try {
    topics = JSON.parse(text ?? "");
  } catch {
    throw new EntryError("topics field is not JSON");
  }
  if (!Array.isArray(topics) || !topics.every((t) => typeof t === "string")) {
    throw new EntryError("topics field is not a list of strings");
  }
  return topics;
}
