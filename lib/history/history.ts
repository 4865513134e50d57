/**
 * History: the recent events a reconnecting subscriber can catch up from, bounded by count
 * and age, looked up by time or by cursor. Kept in memory, and optionally in a log file
 * that survives restarts and crashes (see `log.ts`).
 *
 * Folder `lib/history/`: this contract, its backends (`memory.ts`; `log.ts` over the file
 * format of `file.ts`), the factory that picks one (`open.ts`) and the PyPubSub backlog
 * import. The contract imports none of the backends.
 *
 * @module
 */

import type { Event } from "../core/event.ts";

/** How much history to keep and where. */
export interface HistoryOptions {
  /** Most events kept; 0 disables history (nothing is kept, `storage` is not opened). */
  size: number;
  /** Seconds an event is kept; 0 means no age limit. */
  maxAge: number;
  /** Path of the log file; `undefined` keeps history in memory only. */
  storage?: string;
  /**
   * When true, `append` resolves only once the event is written and synced to disk.
   * When false (the default) it resolves at once and the event reaches the disk within
   * a second.
   */
  sync?: boolean;
}

/** The answer to a replay by cursor. */
export interface CursorReplay {
  /** Retained events after the cursor, oldest first. */
  events: Event[];
  /**
   * True when events the client has not seen may have been dropped by retention (or
   * predate this history): the cursor is older than everything retained.
   */
  truncated: boolean;
  /**
   * True when the history cannot place the cursor: not a cursor of ours (a PyPubSub
   * UUIDv4, another deployment's), newer than any event it has held, or between retained
   * events without being one of them. Nothing is replayed; the client is told so rather
   * than left waiting.
   */
  unknown: boolean;
}

/**
 * A bounded, time-ordered backlog. Reads are synchronous and see every event whose
 * `append` has been called, so a caller can take a replay and go live in one step
 * without a gap: events appended later have greater cursors.
 */
export interface History {
  /** Events retained now (age limit applied). */
  readonly size: number;
  /** The cursor of the newest event ever appended, retained or not; `""` before the first. */
  readonly newest: string;
  /** False while the storage file cannot be written (always true in memory). */
  readonly writable: boolean;
  /**
   * Adds an event. The event is visible to `since` and `after` as soon as this returns;
   * the promise settles when it is as durable as the `sync` option asks (at once for
   * memory-only history). With `sync`, it rejects when the write fails.
   *
   * @throws {RangeError} when the cursor is not greater than every cursor seen before.
   */
  append(event: Event): Promise<void>;
  /**
   * Retained events with `timestamp >= epochSeconds` (integer or fraction), oldest
   * first; at most `limit` of them. A page shorter than `limit` is the last one; the
   * next page is `after(lastEvent.cursor, limit)`.
   */
  since(epochSeconds: number, limit?: number): Event[];
  /**
   * Retained events strictly after `cursor`, found by binary search; at most `limit` of
   * them. A cursor older than everything retained gives all retained events, with
   * `truncated` set unless nothing between it and the oldest retained event was
   * dropped. An unknown cursor that is not older, or a string that is not a cursor,
   * gives nothing, with `unknown` set.
   *
   * Events loaded from storage are read from the file when first replayed (about 20 µs
   * each), so replaying a large backlog in pages keeps each call short.
   */
  after(cursor: string, limit?: number): CursorReplay;
  /**
   * Resolves once everything appended so far is on disk (at once for memory only);
   * rejects while the storage file cannot be written.
   */
  flush(): Promise<void>;
  /**
   * Flushes and releases the file and timers; the history must not be used afterwards.
   * Rejects (after releasing them) when appended events could not be written.
   */
  close(): Promise<void>;
}
