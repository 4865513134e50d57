/**
 * Timeouts for requests that arrive too slowly (`server.timeouts`): the request head, a
 * publish body, and the wait between requests on a kept-alive connection. Without them a
 * client that sends half a request holds a connection, and a file descriptor, for ever.
 * Streams are exempt: they are meant to be long.
 *
 * The deadlines are checked by one coarse sweep rather than a timer each: a timer set and
 * cleared costs about 3.6 µs here, an entry added to and removed from the sweep's set
 * about 0.4 µs, and every publish reads a body.
 *
 * @module
 */

import { HttpError } from "./error.ts";
import type { Section } from "../section.ts";

/** Seconds allowed for each phase of a request; 0 turns that timeout off. */
export interface Timeouts {
  /** From the connection's start until its first request head is complete. */
  readonly head: number;
  /** From the end of a publish's head until its body is complete. */
  readonly body: number;
  /** Between requests on a kept-alive connection. */
  readonly idle: number;
}

/** Which timeout ran out, for the log line and the metric. */
export type TimeoutPhase = keyof Timeouts;

/** nginx waits 60 s for heads and bodies; a pub/sub client sends both at once. */
export const TIMEOUT_DEFAULTS: Timeouts = { head: 10, body: 30, idle: 75 };

/**
 * Reads `server.timeouts` (durations; 0 turns one off).
 *
 * @throws {ConfigError} naming the key when a value is not a duration.
 */
export function parseTimeouts(server: Section): Timeouts {
  const section = server.section("timeouts");
  return {
    head: section.duration("head", TIMEOUT_DEFAULTS.head),
    body: section.duration("body", TIMEOUT_DEFAULTS.body),
    idle: section.duration("idle", TIMEOUT_DEFAULTS.idle),
  };
}

/** The 408 answer to a publish whose body did not arrive in time. */
export class BodyTimeout extends HttpError {
  override name = "BodyTimeout";

  constructor(seconds: number) {
    super(408, `request body not received within ${seconds} s (server.timeouts.body)`);
  }
}

/** Something with a deadline: a connection waiting for a head, a body being read. */
export interface Expiring {
  /** Set by {@link Deadlines.add}. */
  expiresAt: number;
  /** Called once when the deadline passes, unless removed before. */
  expire(): void;
}

/**
 * Deadlines checked every `periodMs` by one interval. A deadline fires between its time
 * and two periods later, never before.
 *
 * @example
 * ```ts
 * import { Deadlines } from "./timeouts.ts";
 * const deadlines = new Deadlines(50);
 * const fired = new Promise<void>((resolve) =>
 *   deadlines.add({ expiresAt: 0, expire: resolve }, 100)
 * );
 * await fired;
 * deadlines.close();
 * ```
 */
export class Deadlines {
  readonly #pending = new Set<Expiring>();
  readonly #timer: ReturnType<typeof setInterval>;
  /** `performance.now()` at the last sweep: a clock that costs nothing to read. */
  #now = performance.now();

  constructor(readonly periodMs: number) {
    this.#timer = setInterval(() => this.#sweep(), periodMs);
  }

  /** Starts (or restarts) the deadline of `item`, `ms` from now. */
  add(item: Expiring, ms: number): void {
    item.expiresAt = this.#now + this.periodMs + ms;
    this.#pending.add(item);
  }

  /** Cancels the deadline of `item`, if it has one. */
  delete(item: Expiring): void {
    this.#pending.delete(item);
  }

  /** Stops the sweep; pending deadlines never fire. */
  close(): void {
    clearInterval(this.#timer);
    this.#pending.clear();
  }

  #sweep(): void {
    const now = this.#now = performance.now();
    for (const item of this.#pending) {
      if (item.expiresAt > now) continue;
      this.#pending.delete(item);
      item.expire();
    }
  }
}

/** A sweep period fine enough for the shortest timeout: a tenth of it, 50 ms to 1 s. */
export function sweepPeriodMs(timeouts: Timeouts): number {
  const on = [timeouts.head, timeouts.body, timeouts.idle].filter((s) => s > 0);
  const shortest = on.length === 0 ? 10 : Math.min(...on);
  return Math.min(1000, Math.max(50, shortest * 100));
}

/** What an engine's body reader needs to honour `server.timeouts.body`. */
export interface BodyDeadline {
  readonly deadlines: Deadlines;
  /** `server.timeouts.body`; 0 for none. */
  readonly seconds: number;
}

/**
 * Resolves as `read` does, or rejects with a {@link BodyTimeout} (408) when the body
 * timeout passes first; `onExpire` then stops the read. Without a timeout it is `read`.
 */
export function bodyWithin<T>(
  deadline: BodyDeadline,
  read: Promise<T>,
  onExpire?: () => void,
): Promise<T> {
  const { deadlines, seconds } = deadline;
  if (seconds <= 0) return read;
  return new Promise<T>((resolve, reject) => {
    const item: Expiring = {
      expiresAt: 0,
      expire() {
        onExpire?.();
        reject(new BodyTimeout(seconds));
      },
    };
    deadlines.add(item, seconds * 1000);
    read.then((value) => {
      deadlines.delete(item);
      resolve(value);
    }, (err) => {
      deadlines.delete(item);
      reject(err);
    });
  });
}
