/**
 * Waiting between attempts: jittered exponential backoff, the server's `Retry-After`, and
 * a sleep that an abort signal ends early.
 *
 * @module
 */

/** Bounds of the wait between attempts, in milliseconds. */
export interface BackoffOptions {
  /** The first wait (default 250 ms); each failure in a row doubles it. */
  minDelayMs?: number;
  /** The longest wait (default 30 s). */
  maxDelayMs?: number;
}

/**
 * Exponential backoff with jitter: the n-th wait in a row is a random time between half
 * and all of `min × 2ⁿ`, capped at `max`. The jitter spreads the reconnects of many
 * clients after a server restart; the lower half keeps a client from retrying at once.
 *
 * @example
 * ```ts
 * import { Backoff } from "./backoff.ts";
 * const backoff = new Backoff({ minDelayMs: 100, maxDelayMs: 1000 });
 * const first = backoff.next();
 * console.assert(first >= 50 && first <= 100);
 * ```
 */
export class Backoff {
  readonly #min: number;
  readonly #max: number;
  #failures = 0;

  constructor(opts: BackoffOptions = {}) {
    this.#min = Math.max(1, opts.minDelayMs ?? 250);
    this.#max = Math.max(this.#min, opts.maxDelayMs ?? 30_000);
  }

  /** The wait before the next attempt; counts one more failure in a row. */
  next(): number {
    const ceiling = Math.min(this.#max, this.#min * 2 ** Math.min(this.#failures, 30));
    this.#failures++;
    return Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
  }

  /**
   * The wait before the next attempt when the server asked for `retryAfterMs` (or null):
   * the longer of the two, the server's capped at the longest wait.
   */
  after(retryAfterMs: number | null): number {
    const own = this.next();
    return retryAfterMs === null ? own : Math.max(own, Math.min(retryAfterMs, this.#max));
  }

  /** Starts again from the first wait, after a success. */
  reset(): void {
    this.#failures = 0;
  }
}

/**
 * A `Retry-After` header in milliseconds: delay-seconds or an HTTP date; null when absent
 * or unreadable.
 *
 * @example
 * ```ts
 * import { retryAfterMs } from "./backoff.ts";
 * console.assert(retryAfterMs("2") === 2000);
 * console.assert(retryAfterMs(null) === null);
 * ```
 */
export function retryAfterMs(header: string | null, now = Date.now()): number | null {
  if (header === null) return null;
  const value = header.trim();
  if (/^\d+$/.test(value)) return Number(value) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? null : Math.max(0, date - now);
}

/**
 * Waits `ms` milliseconds, or less if `signal` aborts; resolves true when the whole time
 * passed. Leaves no timer or listener behind.
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<boolean> {
  if (signal?.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const done = (slept: boolean) => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", aborted);
      resolve(slept);
    };
    const aborted = () => done(false);
    const timer = setTimeout(() => done(true), ms);
    signal?.addEventListener("abort", aborted, { once: true });
  });
}
