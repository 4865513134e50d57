/**
 * The history of a cluster node: the events the Redis stream retains, kept in memory and
 * fed by the node's stream reader (loaded at start, then as events arrive), so that
 * replays never go to Redis, however many subscribers reconnect at once.
 *
 * @module
 */

import type { Event } from "../core/event.ts";
import type { CursorReplay, History } from "../history/history.ts";
import { MemoryHistory } from "../history/memory.ts";

/** Retention, as `server.backlog` sets it. */
export interface StreamHistoryOptions {
  /** Events kept; 0 keeps none. */
  readonly size: number;
  /** Seconds an event is kept; 0 means no age limit. */
  readonly maxAge: number;
}

/**
 * A {@link MemoryHistory} that can be started again from a new horizon when the node
 * learns that events it never read were trimmed from the stream: the events it holds
 * from before the hole are dropped, so that a replay from a cursor before the hole says
 * `truncated` instead of skipping the hole silently.
 *
 * @example
 * ```ts
 * import { StreamHistory } from "./stream_history.ts";
 * const history = new StreamHistory({ size: 100, maxAge: 0 });
 * history.restart("00000000-0001-7000-8000-000000000000");
 * console.assert(history.size === 0);
 * ```
 */
export class StreamHistory implements History {
  readonly #options: StreamHistoryOptions;
  #memory: MemoryHistory;

  constructor(options: StreamHistoryOptions) {
    this.#options = options;
    this.#memory = new MemoryHistory(options);
  }

  /** Events retained now. */
  get size(): number {
    return this.#memory.size;
  }

  /** The newest cursor this node has read from the stream; see {@link History.newest}. */
  get newest(): string {
    return this.#memory.newest;
  }

  /** Memory is always writable; whether Redis is reachable is the bus's readiness. */
  get writable(): boolean {
    return true;
  }

  /**
   * Adds the next event read from the stream.
   *
   * @throws {RangeError} when its cursor is not after every cursor added before.
   */
  add(event: Event): void {
    this.#memory.add(event);
  }

  /** Adds an event; see {@link History.append}. */
  append(event: Event): Promise<void> {
    return this.#memory.append(event);
  }

  /** Retained events at or after a time; see {@link History.since}. */
  since(epochSeconds: number, limit?: number): Event[] {
    return this.#memory.since(epochSeconds, limit);
  }

  /** Retained events after a cursor; see {@link History.after}. */
  after(cursor: string, limit?: number): CursorReplay {
    return this.#memory.after(cursor, limit);
  }

  /**
   * Drops every event held and starts again: no event with a cursor after `horizon` has
   * been dropped since, and a cursor before it finds its events truncated.
   */
  restart(horizon: string): void {
    this.#memory = new MemoryHistory({ ...this.#options, horizon });
  }

  /** Nothing to write: resolves at once. */
  flush(): Promise<void> {
    return Promise.resolve();
  }

  /** Drops every event. */
  close(): Promise<void> {
    return this.#memory.close();
  }
}
