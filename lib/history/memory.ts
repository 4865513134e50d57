/**
 * The in-memory history: a ring buffer of events in cursor order, with lookups by binary
 * search. It is the whole history when there is no storage, and the index the log-backed
 * history reads from.
 *
 * @module
 */

import { Event, isCursor } from "../core/event.ts";
import type { CursorReplay, History } from "./history.ts";

/**
 * An event known only by its cursor and timestamp until it is first read, when the
 * history's `fetch` builds it (a history loaded from a file starts out with these).
 */
export interface EventStub {
  readonly cursor: string;
  readonly timestamp: number;
}

/** Retention settings of a {@link MemoryHistory}. */
export interface MemoryHistoryOptions<Stub extends EventStub> {
  /** Most events kept; 0 keeps none. */
  size: number;
  /** Seconds an event is kept; 0 means no age limit. */
  maxAge: number;
  /**
   * No event with a greater cursor has been dropped: a client whose cursor is at or after
   * it has missed nothing that is not retained. Defaults to the time of creation.
   */
  horizon?: string;
  /** Builds the events of stubs, in order; undefined where one cannot be built. */
  fetch?: (stubs: Stub[]) => (Event | undefined)[];
}

/** What is left of a stub that could not be fetched: it keeps its place, never replayed. */
class Unreadable implements EventStub {
  constructor(readonly cursor: string, readonly timestamp: number) {}
}

const MAX_MS = 2 ** 48 - 1;

/** The answer for a cursor the history cannot place; shared, never mutated. */
const UNKNOWN: CursorReplay = Object.freeze({ events: [], truncated: false, unknown: true });

/** What every append answers: memory is as durable as it gets at once. Shared, not made per event. */
const STORED: Promise<void> = Promise.resolve();

/**
 * A string that sorts before every cursor of millisecond `ms` and after every cursor of an
 * earlier millisecond: the cursor's time prefix.
 */
export function cursorFloor(ms: number): string {
  const t = Math.min(MAX_MS, Math.max(0, Math.floor(ms))).toString(16).padStart(12, "0");
  return `${t.slice(0, 8)}-${t.slice(8)}-`;
}

/**
 * Events in a ring buffer, oldest first. Appends and evictions are O(1); lookups by time
 * and cursor are binary searches on the cursors, which increase with every append.
 *
 * @example
 * ```ts
 * import { buildEvent } from "../core/event.ts";
 * import { MemoryHistory } from "./memory.ts";
 * const history = new MemoryHistory({ size: 2, maxAge: 0 });
 * const target = { path: "/a", topics: ["a"], private: false };
 * const [a, b, c] = [1, 2, 3].map((n) => buildEvent(target, `{"n":${n}}`));
 * for (const ev of [a!, b!, c!]) history.add(ev);
 * console.assert(history.after(b!.cursor).events[0] === c);
 * ```
 */
export class MemoryHistory<Stub extends EventStub = never> implements History {
  readonly #capacity: number;
  readonly #maxAgeMs: number;
  readonly #fetch: (stubs: Stub[]) => (Event | undefined)[];
  /** Slots of the ring; grows by doubling up to the capacity. */
  #ring: (Event | Stub | Unreadable | undefined)[] = [];
  #head = 0;
  #count = 0;
  /** Greatest cursor ever added, retained or not. */
  #newest = "";
  #horizon: string;

  constructor(opts: MemoryHistoryOptions<Stub>) {
    this.#capacity = Math.max(0, Math.floor(opts.size));
    this.#maxAgeMs = Math.max(0, opts.maxAge) * 1000;
    this.#horizon = opts.horizon ?? cursorFloor(Date.now());
    this.#fetch = opts.fetch ?? ((stubs) => stubs.map(() => undefined));
  }

  /** Events retained now. */
  get size(): number {
    this.expire();
    return this.#count;
  }

  /** Memory is always writable. */
  get writable(): boolean {
    return true;
  }

  /** See {@link MemoryHistoryOptions.horizon}; moves forward as events are dropped. */
  get horizon(): string {
    return this.#horizon;
  }

  /** The greatest cursor ever added, or `""` before the first. */
  get newest(): string {
    return this.#newest;
  }

  /** Adds an event; see {@link History.append}. */
  append(event: Event): Promise<void> {
    this.add(event);
    return STORED;
  }

  /**
   * Adds an event (or a stub) synchronously, dropping the oldest when full.
   *
   * @throws {RangeError} when the cursor is not greater than every cursor added before.
   */
  add(event: Event | Stub): void {
    if (event.cursor <= this.#newest) {
      throw new RangeError(
        `history: cursor ${event.cursor} is not after the newest ${this.#newest}`,
      );
    }
    this.#newest = event.cursor;
    if (this.#capacity === 0) {
      this.#dropped(event);
      return;
    }
    if (this.#count === this.#capacity) this.#dropOldest();
    if (this.#count === this.#ring.length) this.#grow();
    this.#ring[(this.#head + this.#count) % this.#ring.length] = event;
    this.#count++;
  }

  /** Retained events with `timestamp >= epochSeconds`; see {@link History.since}. */
  since(epochSeconds: number, limit = Infinity): Event[] {
    if (Number.isNaN(epochSeconds)) return [];
    const cutoff = this.expire();
    // A cursor's time is never below its event's timestamp (rounded down to the
    // millisecond), so no event at or after `epochSeconds` sorts before this key. The
    // margin of 1 ms absorbs float rounding of `timestamp * 1000`.
    const key = cursorFloor(epochSeconds * 1000 - 1);
    return this.#slice(this.#lowerBound(key), Math.max(epochSeconds, cutoff), limit);
  }

  /** Retained events after `cursor`; see {@link History.after}. */
  after(cursor: string, limit = Infinity): CursorReplay {
    if (!isCursor(cursor)) return UNKNOWN;
    const cutoff = this.expire();
    const i = this.#lowerBound(cursor);
    if (i < this.#count && this.#at(i).cursor === cursor) {
      return { events: this.#slice(i + 1, cutoff, limit), truncated: false, unknown: false };
    }
    const truncated = cursor < this.#horizon;
    // Newer than the newest event, yet not from before this history: never issued here.
    if (i > 0 || (cursor > this.#newest && !truncated)) return UNKNOWN;
    return { events: this.#slice(0, cutoff, limit), truncated, unknown: false };
  }

  /**
   * Retained events and stubs (none fetched) with a cursor after `cursor`, or all of
   * them, oldest first.
   */
  entries(cursor = ""): (Event | Stub)[] {
    const cutoff = this.expire();
    let from = this.#lowerBound(cursor);
    if (from < this.#count && this.#at(from).cursor === cursor) from++;
    const out: (Event | Stub)[] = [];
    for (let i = from; i < this.#count; i++) {
      const entry = this.#at(i);
      if (entry.timestamp >= cutoff && !(entry instanceof Unreadable)) out.push(entry);
    }
    return out;
  }

  /** Nothing to write: resolves at once. */
  flush(): Promise<void> {
    return Promise.resolve();
  }

  /** Drops every event. */
  close(): Promise<void> {
    this.#ring = [];
    this.#head = 0;
    this.#count = 0;
    return Promise.resolve();
  }

  /**
   * Drops events past the age limit from the old end and returns the cutoff in epoch
   * seconds (`-Infinity` without an age limit).
   */
  expire(nowMs: number = Date.now()): number {
    if (this.#maxAgeMs === 0) return -Infinity;
    const cutoff = (nowMs - this.#maxAgeMs) / 1000;
    while (this.#count > 0 && this.#at(0).timestamp < cutoff) this.#dropOldest();
    return cutoff;
  }

  #at(i: number): Event | Stub | Unreadable {
    return this.#ring[this.#slot(i)]!;
  }

  #slot(i: number): number {
    return (this.#head + i) % this.#ring.length;
  }

  /** First position whose cursor is `>= key`, or `count`. */
  #lowerBound(key: string): number {
    let lo = 0;
    let hi = this.#count;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.#at(mid).cursor < key) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /**
   * Up to `limit` events from position `from` on whose timestamp is `>= minTimestamp`.
   * Stubs among them are fetched together and replaced in the ring by their events; one
   * that cannot be fetched is left out, now and later.
   */
  #slice(from: number, minTimestamp: number, limit: number): Event[] {
    const out: Event[] = [];
    let i = from;
    while (out.length < limit && i < this.#count) {
      const page: (Event | Stub)[] = [];
      const stubs: Stub[] = [];
      const stubSlots: number[] = [];
      for (; page.length < limit - out.length && i < this.#count; i++) {
        const entry = this.#at(i);
        if (entry.timestamp < minTimestamp || entry instanceof Unreadable) continue;
        page.push(entry);
        if (!(entry instanceof Event)) {
          stubs.push(entry);
          stubSlots.push(this.#slot(i));
        }
      }
      const fetched = stubs.length > 0 ? this.#fetch(stubs) : [];
      fetched.forEach((ev, k) => {
        const stub = stubs[k]!;
        this.#ring[stubSlots[k]!] = ev ?? new Unreadable(stub.cursor, stub.timestamp);
      });
      let k = 0;
      for (const entry of page) {
        const ev = entry instanceof Event ? entry : fetched[k++];
        if (ev) out.push(ev);
      }
    }
    return out;
  }

  #dropOldest(): void {
    const ev = this.#at(0);
    this.#ring[this.#head] = undefined;
    this.#head = (this.#head + 1) % this.#ring.length;
    this.#count--;
    this.#dropped(ev);
  }

  #dropped(ev: EventStub): void {
    if (ev.cursor > this.#horizon) this.#horizon = ev.cursor;
  }

  /** Doubles the ring (up to the capacity), laying the events out from slot 0. */
  #grow(): void {
    const size = Math.min(this.#capacity, Math.max(16, this.#ring.length * 2));
    const ring: (Event | Stub | Unreadable | undefined)[] = new Array(size);
    for (let i = 0; i < this.#count; i++) ring[i] = this.#at(i);
    this.#ring = ring;
    this.#head = 0;
  }
}
