/**
 * The stream reader of one node: on its own connection (a blocking read holds it), it
 * reads the stream from the last entry it has seen and hands every batch over in stream
 * order. At start it reads what the stream holds without blocking (the history); then it
 * follows the stream with `XREAD BLOCK`. When a read fails it retries with backoff from
 * the same entry, so an outage leaves no gap and no duplicate.
 *
 * @module
 */

import { errorMessage, log } from "../log.ts";
import type { Redis } from "./redis.ts";

/** Entries per read. */
export const READ_BATCH = 500;
/** How long one blocking read waits for new entries, in ms. */
export const BLOCK_MS = 2000;
/** Retry delays after a failed read double from this, up to {@link RETRY_MAX_MS}. */
const RETRY_FIRST_MS = 50;
const RETRY_MAX_MS = 2000;

/** One stream entry as read. */
export interface StreamEntry {
  readonly id: string;
  readonly message: Record<string, string>;
}

/** What the reader reads from and whom it tells. */
export interface ReaderOptions {
  /** A connection of its own: blocking reads hold it. */
  readonly client: Redis;
  readonly key: string;
  /**
   * Takes each batch, in stream order; `live` is false for the batches read at start.
   * Must not throw.
   */
  readonly onBatch: (entries: readonly StreamEntry[], live: boolean) => void;
  /** Told of each failed read (it is retried). */
  readonly onError: (err: unknown) => void;
}

/**
 * Reads one stream in order, from the start.
 *
 * @example
 * ```ts ignore
 * import { StreamReader } from "./reader.ts";
 * const reader = new StreamReader({ client, key: "denopubsub", onBatch, onError });
 * await reader.load();
 * reader.follow();
 * await reader.stop();
 * ```
 */
export class StreamReader {
  readonly #opts: ReaderOptions;
  #lastId = "0-0";
  #healthy = true;
  #stopped = false;
  #following: Promise<void> | null = null;
  /** Ends the wait between retries early, when stopping. */
  #wake: (() => void) | null = null;

  constructor(opts: ReaderOptions) {
    this.#opts = opts;
  }

  /** The id of the last entry read; `0-0` before the first. */
  get lastId(): string {
    return this.#lastId;
  }

  /** False from a failed read until the next one succeeds. */
  get healthy(): boolean {
    return this.#healthy;
  }

  /**
   * Reads everything the stream holds now, without blocking, batch after batch.
   *
   * @throws the Redis error of a failed read.
   */
  async load(): Promise<void> {
    for (;;) {
      const entries = await this.#read(null);
      this.#opts.onBatch(entries, false);
      if (entries.length < READ_BATCH) return;
    }
  }

  /** Follows the stream from where {@link load} stopped, until {@link stop}. */
  follow(): void {
    this.#following ??= this.#follow();
  }

  /** Stops reading and closes the connection. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#opts.client.destroy();
    this.#wake?.();
    await this.#following;
  }

  async #follow(): Promise<void> {
    let delay = RETRY_FIRST_MS;
    while (!this.#stopped) {
      try {
        const after = this.#lastId;
        const entries = await this.#read(BLOCK_MS);
        if (!this.#healthy) log.info("stream reader resumed", { after });
        this.#healthy = true;
        delay = RETRY_FIRST_MS;
        if (entries.length > 0) this.#opts.onBatch(entries, true);
      } catch (err) {
        if (this.#stopped) return;
        if (this.#healthy) {
          log.warn("stream reader cannot read, retrying", {
            after: this.#lastId,
            error: errorMessage(err),
          });
        }
        this.#healthy = false;
        this.#opts.onError(err);
        await this.#pause(delay);
        delay = Math.min(delay * 2, RETRY_MAX_MS);
      }
    }
  }

  /** Entries after the last one read; blocks up to `block` ms when there are none. */
  async #read(block: number | null): Promise<StreamEntry[]> {
    const options = block === null ? { COUNT: READ_BATCH } : { COUNT: READ_BATCH, BLOCK: block };
    const reply = await this.#opts.client.xRead({ key: this.#opts.key, id: this.#lastId }, options);
    const entries = (reply?.[0]?.messages ?? []) as StreamEntry[];
    const last = entries.at(-1);
    if (last) this.#lastId = last.id;
    return entries;
  }

  #pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.#wake = done;
    });
  }
}
