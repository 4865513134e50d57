/**
 * Many streaming subscribers over raw sockets, sharing one set of counters: deliveries,
 * publish→deliver latency, keepalive lines, and streams the server ended.
 *
 * @module
 */

import { LatencyHistogram } from "./histogram.ts";
import { writeAll } from "./publisher_conn.ts";
import { StreamDecoder, type StreamSink } from "./stream_decoder.ts";

/** Counters shared by every subscriber of a {@link SubscriberSet}. */
export class DeliveryStats {
  /** Lines that carried a send timestamp. */
  received = 0;
  /** Deliveries that arrived at most 1 s after they were sent. */
  withinSecond = 0;
  /** Lines without a timestamp (keepalives). */
  other = 0;
  /** Epoch ms of the last delivery, 0 before the first. */
  lastRecvMs = 0;
  /** Publish→deliver latency of every delivery, in ms. */
  readonly latency: LatencyHistogram = new LatencyHistogram();
}

/** Where and how subscribers connect. */
export interface SubscriberOptions {
  port: number;
  /** Request path of each subscriber; its length is the number of subscribers. */
  paths: readonly string[];
  /** Extra request header lines, each ending in `\r\n`. */
  headers: string;
  /** Read buffer per subscriber. */
  bufferBytes: number;
}

/** How opening went. */
export interface OpenResult {
  opened: number;
  failed: number;
  /** First failure message, to say why without flooding the log. */
  firstError: string | null;
  ms: number;
  /** Subscribers opened per request path. */
  openByPath: Map<string, number>;
}

/**
 * Opens a subscriber per path with `openOne`, `concurrency` at a time. Stops starting new
 * ones at `deadlineMs` (epoch ms); those count as failed.
 */
export async function openEach(
  paths: readonly string[],
  concurrency: number,
  deadlineMs: number,
  openOne: (path: string) => Promise<string | null>,
): Promise<OpenResult> {
  const began = performance.now();
  const result: OpenResult = {
    opened: 0,
    failed: 0,
    firstError: null,
    ms: 0,
    openByPath: new Map(),
  };
  let next = 0;
  const worker = async () => {
    while (next < paths.length) {
      const path = paths[next++]!;
      const error = Date.now() > deadlineMs
        ? "gave up: opening took too long"
        : await openOne(path);
      if (error === null) {
        result.opened++;
        result.openByPath.set(path, (result.openByPath.get(path) ?? 0) + 1);
      } else {
        result.failed++;
        result.firstError ??= error;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, paths.length) }, worker));
  result.ms = performance.now() - began;
  return result;
}

/**
 * A wait for the next delivery of a subscriber set: {@link Progress.wait} resolves at the
 * next {@link Progress.wake} or after its timeout, whichever comes first. Callers waiting
 * at the same time share one promise and one timer.
 */
export class Progress {
  #waiter: (PromiseWithResolvers<void> & { timer: ReturnType<typeof setTimeout> }) | null = null;

  wait(timeoutMs: number): Promise<void> {
    let waiter = this.#waiter;
    if (waiter === null) {
      const timer = setTimeout(() => this.wake(), timeoutMs);
      waiter = this.#waiter = { ...Promise.withResolvers<void>(), timer };
    }
    return waiter.promise;
  }

  wake(): void {
    const waiter = this.#waiter;
    if (waiter === null) return;
    this.#waiter = null;
    clearTimeout(waiter.timer);
    waiter.resolve();
  }
}

const encoder = new TextEncoder();

interface Sub {
  conn: Deno.Conn | null;
  decoder: StreamDecoder;
  ready: PromiseWithResolvers<number>;
  loop: Promise<void> | null;
  /** Given up on while opening; its end is not counted as the server's doing. */
  dropped: boolean;
}

/**
 * A set of subscribers opened together and closed together.
 *
 * @example
 * ```ts ignore
 * import { SubscriberSet } from "./subscribers.ts";
 * const subs = new SubscriberSet({ port, paths: ["/a", "/a"], headers: "", bufferBytes: 16384 });
 * await subs.open(64, 10_000);
 * // ... publish ...
 * console.log(subs.stats.received);
 * await subs.close();
 * ```
 */
export class SubscriberSet {
  /** The shared counters. */
  readonly stats: DeliveryStats = new DeliveryStats();
  /** Streams that ended before {@link SubscriberSet.close}: evicted or dropped. */
  ended = 0;
  #opts: SubscriberOptions;
  #subs: Sub[] = [];
  #closing = false;
  readonly #progress = new Progress();

  constructor(opts: SubscriberOptions) {
    this.#opts = opts;
  }

  /**
   * Opens every subscriber, `concurrency` at a time, and waits for each response head.
   * Stops starting new ones at `deadlineMs` (epoch ms); those count as failed.
   */
  open(concurrency: number, deadlineMs: number): Promise<OpenResult> {
    return openEach(
      this.#opts.paths,
      concurrency,
      deadlineMs,
      (path) => this.#openOne(path, deadlineMs),
    );
  }

  /**
   * Resolves at the next read that brings data, or after `timeoutMs`, whichever comes
   * first. Callers waiting at the same time share one promise and one timer.
   */
  progress(timeoutMs: number): Promise<void> {
    return this.#progress.wait(timeoutMs);
  }

  /** Closes every connection and waits for the read loops to end. */
  async close(): Promise<void> {
    this.#closing = true;
    for (const sub of this.#subs) if (sub.conn) closeQuietly(sub.conn);
    await Promise.all(this.#subs.map((sub) => sub.loop));
    this.#subs = [];
  }

  async #openOne(path: string, deadlineMs: number): Promise<string | null> {
    const ready = Promise.withResolvers<number>();
    const sub: Sub = {
      conn: null,
      decoder: new StreamDecoder(this.#sink(ready)),
      ready,
      loop: null,
      dropped: false,
    };
    try {
      sub.conn = await Deno.connect({ hostname: "127.0.0.1", port: this.#opts.port });
    } catch (err) {
      return `connect: ${err instanceof Error ? err.message : String(err)}`;
    }
    this.#subs.push(sub);
    const request = `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n${this.#opts.headers}\r\n`;
    sub.loop = this.#readLoop(sub);
    let error: string | null = null;
    try {
      await writeAll(sub.conn, encoder.encode(request));
      const status = await withDeadline(sub.ready.promise, deadlineMs);
      if (status === null) error = "no response head before the deadline";
      else if (status === 0) error = "closed before a response head";
      else if (status !== 200) error = `status ${status}`;
    } catch (err) {
      error = `request: ${err instanceof Error ? err.message : String(err)}`;
    }
    if (error !== null) {
      sub.dropped = true;
      closeQuietly(sub.conn);
    }
    return error;
  }

  #sink(ready: PromiseWithResolvers<number>): StreamSink {
    const stats = this.stats;
    return {
      head: (status) => ready.resolve(status),
      event: (t, recvMs) => {
        const ms = recvMs - t;
        stats.received++;
        if (ms <= 1000) stats.withinSecond++;
        stats.latency.record(ms);
        stats.lastRecvMs = recvMs;
      },
      other: () => {
        stats.other++;
      },
    };
  }

  async #readLoop(sub: Sub): Promise<void> {
    const conn = sub.conn!;
    const buf = new Uint8Array(this.#opts.bufferBytes);
    const origin = performance.timeOrigin;
    try {
      for (;;) {
        const n = await conn.read(buf);
        if (n === null) break;
        sub.decoder.push(buf, origin + performance.now(), n);
        this.#progress.wake();
      }
    } catch {
      // Closed locally or reset by the server; both end the stream.
    }
    sub.ready.resolve(0);
    if (!this.#closing && !sub.dropped && sub.decoder.status === 200) this.ended++;
  }
}

function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // Already closed, by us or by the server.
  }
}

async function withDeadline<T>(promise: Promise<T>, deadlineMs: number): Promise<T | null> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<null>((resolve) => {
    timer = setTimeout(() => resolve(null), Math.max(0, deadlineMs - Date.now()));
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}
