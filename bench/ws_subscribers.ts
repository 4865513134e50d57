/**
 * Many WebSocket subscribers, each a Deno `WebSocket`, counted into the same
 * {@link DeliveryStats} as the streaming subscribers: one text message is one line.
 *
 * @module
 */

import {
  DeliveryStats,
  openEach,
  type OpenResult,
  Progress,
  type SubscriberOptions,
} from "./subscribers.ts";

/** How far into a message the timestamp is looked for, as in the stream decoder. */
const MESSAGE_HEAD = 320;
const NUMBER = /^\s*(\d+(?:\.\d+)?)/;

/**
 * The epoch-ms number after the first `"t":` near the start of `text`, or NaN.
 *
 * @example
 * ```ts
 * import { textTimestamp } from "./ws_subscribers.ts";
 * console.assert(textTimestamp('{"t":1.5,"seq":0}') === 1.5);
 * ```
 */
export function textTimestamp(text: string): number {
  const at = text.indexOf('"t":');
  if (at < 0 || at > MESSAGE_HEAD) return NaN;
  const m = NUMBER.exec(text.slice(at + 4, at + 40));
  return m ? Number(m[1]) : NaN;
}

/**
 * A set of WebSocket subscribers opened together and closed together; the same surface
 * as {@link SubscriberSet} (its `headers` and `bufferBytes` do not apply).
 */
export class WsSubscriberSet {
  /** The shared counters. */
  readonly stats: DeliveryStats = new DeliveryStats();
  /** Sockets that closed before {@link WsSubscriberSet.close}. */
  ended = 0;
  #opts: SubscriberOptions;
  #sockets: WebSocket[] = [];
  #closed: Promise<void>[] = [];
  #closing = false;
  readonly #progress = new Progress();

  constructor(opts: SubscriberOptions) {
    this.#opts = opts;
  }

  /** Opens every socket, `concurrency` at a time, until `deadlineMs` (epoch ms). */
  open(concurrency: number, deadlineMs: number): Promise<OpenResult> {
    return openEach(
      this.#opts.paths,
      concurrency,
      deadlineMs,
      (path) => this.#openOne(path, deadlineMs),
    );
  }

  /** Resolves at the next message, or after `timeoutMs`; concurrent callers share one timer. */
  progress(timeoutMs: number): Promise<void> {
    return this.#progress.wait(timeoutMs);
  }

  /** Closes every socket and waits until each has closed. */
  async close(): Promise<void> {
    this.#closing = true;
    for (const socket of this.#sockets) socket.close();
    await Promise.all(this.#closed);
    this.#sockets = [];
    this.#closed = [];
  }

  #openOne(path: string, deadlineMs: number): Promise<string | null> {
    const socket = new WebSocket(`ws://127.0.0.1:${this.#opts.port}${path}`);
    const opened = Promise.withResolvers<string | null>();
    const closed = Promise.withResolvers<void>();
    const timer = setTimeout(() => {
      opened.resolve("no handshake before the deadline");
      socket.close();
    }, Math.max(0, deadlineMs - Date.now()));
    let open = false;
    socket.onopen = () => {
      open = true;
      clearTimeout(timer);
      opened.resolve(null);
    };
    socket.onerror = () => opened.resolve("handshake failed");
    socket.onclose = () => {
      clearTimeout(timer);
      opened.resolve("closed before the handshake");
      if (open && !this.#closing) this.ended++;
      closed.resolve();
    };
    socket.onmessage = (msg) => this.#message(msg.data);
    this.#sockets.push(socket);
    this.#closed.push(closed.promise);
    return opened.promise;
  }

  #message(data: unknown): void {
    const stats = this.stats;
    const t = typeof data === "string" ? textTimestamp(data) : NaN;
    if (Number.isNaN(t)) {
      stats.other++;
    } else {
      const recvMs = performance.timeOrigin + performance.now();
      const ms = recvMs - t;
      stats.received++;
      if (ms <= 1000) stats.withinSecond++;
      stats.latency.record(ms);
      stats.lastRecvMs = recvMs;
    }
    this.#progress.wake();
  }
}
