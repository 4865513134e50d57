/**
 * A small map whose entries expire, bounded in size: when full, the oldest entry goes.
 *
 * @module
 */

interface Slot<V> {
  value: V;
  expires: number;
}

/**
 * Entries expire after the time given to {@link TtlCache.set}; at most `maxEntries` are
 * kept, the oldest dropped first, so a flood of distinct keys costs bounded memory.
 *
 * @example
 * ```ts
 * import { TtlCache } from "./ttl_cache.ts";
 * const cache = new TtlCache<string>(1000);
 * cache.set("k", "v", 60_000);
 * cache.get("k"); // "v"
 * ```
 */
export class TtlCache<V> {
  readonly #slots = new Map<string, Slot<V>>();
  readonly #maxEntries: number;
  readonly #now: () => number;

  /** @param now clock in milliseconds, replaceable in tests */
  constructor(maxEntries: number, now: () => number = Date.now) {
    this.#maxEntries = maxEntries;
    this.#now = now;
  }

  /** The value under `key`, or undefined when absent or expired. */
  get(key: string): V | undefined {
    const slot = this.#slots.get(key);
    if (!slot) return undefined;
    if (slot.expires <= this.#now()) {
      this.#slots.delete(key);
      return undefined;
    }
    return slot.value;
  }

  /** Stores `value` for `ttlMs` milliseconds; a TTL of 0 or less stores nothing. */
  set(key: string, value: V, ttlMs: number): void {
    if (ttlMs <= 0) return;
    this.#slots.delete(key);
    while (this.#slots.size >= this.#maxEntries) {
      const oldest = this.#slots.keys().next();
      if (oldest.done) break;
      this.#slots.delete(oldest.value);
    }
    this.#slots.set(key, { value, expires: this.#now() + ttlMs });
  }

  /** Drops every entry. */
  clear(): void {
    this.#slots.clear();
  }

  /** How many entries are held, expired ones included until they are next looked up. */
  get size(): number {
    return this.#slots.size;
  }
}
