/**
 * Where a subscriber asks its stream to start: after a cursor, or at a time. Headers
 * (`X-Fetch-Since-Cursor`, `Last-Event-ID`, `X-Fetch-Since`) and, for `EventSource` and
 * `WebSocket`, which cannot set headers, the query parameters `cursor` and `since`.
 *
 * @module
 */

import type { Call } from "./engine.ts";
import { HttpError } from "./error.ts";
import type { CursorReplay, History } from "../history/history.ts";

/** A replay asked for: after a cursor, from a time (seconds since the epoch), or none. */
export type ReplayFrom = { readonly cursor: string } | { readonly since: number } | null;

const NO_REPLAY: CursorReplay = Object.freeze({ events: [], truncated: false, unknown: false });

/**
 * Reads where the request asks to start. A cursor wins over a time; headers win over the
 * query string; `Last-Event-ID` (sent by a reconnecting `EventSource`) wins over the
 * `cursor` parameter the page first opened with.
 *
 * @throws {HttpError} 400 when a time is not a number of seconds.
 */
export function replayFrom(call: Call): ReplayFrom {
  const cursor = call.header("x-fetch-since-cursor") ?? call.header("last-event-id") ??
    call.query("cursor");
  if (cursor !== null) return { cursor: cursor.trim() };
  const header = call.header("x-fetch-since");
  const since = header ?? call.query("since");
  if (since === null) return null;
  const seconds = Number(since);
  if (since.trim() === "" || !Number.isFinite(seconds)) {
    const name = header === null ? "since" : "X-Fetch-Since";
    throw new HttpError(400, `${name} must be seconds since the epoch, got "${since}"`);
  }
  return { since: seconds };
}

/** The retained events `from` asks for; synchronous, so the caller can go live in one step. */
export function readReplay(history: History, from: ReplayFrom): CursorReplay {
  if (from === null) return NO_REPLAY;
  if ("cursor" in from) return history.after(from.cursor);
  return { events: history.since(from.since), truncated: false, unknown: false };
}
