/**
 * One subscriber as the hub sees it: its topics, its framing, and a byte sink with a
 * budget. How the bytes reach the socket belongs to the HTTP engine, which subclasses
 * {@link Subscriber} (`lib/http/engine_deno.ts`, `lib/http/engine_node.ts`).
 *
 * @module
 */

import type { Principal } from "../auth/acl.ts";
import type { Event } from "./event.ts";
import type { Framing } from "./framing.ts";
import type { TopicSet } from "./topics.ts";

/**
 * Why a stream ended, for the log line and the metrics. `behind`: a cluster node missed
 * events trimmed from the stream, so its streams are cut for their clients to resume.
 */
export type CloseReason = "client" | "slow" | "shutdown" | "revoked" | "behind";

let nextId = 1;

/**
 * The error a stream the server ends is cut with (see {@link Subscriber.close}); expected,
 * so never logged as one.
 */
export class StreamCutError extends Error {
  override name = "StreamCutError";
}

/** What every subscriber is made from, whatever the engine. */
export interface SubscriberOptions {
  readonly topicSets: readonly TopicSet[];
  /** The wire format: NDJSON, oldschool NDJSON, SSE or WebSocket (`framing.ts`). */
  readonly framing: Framing;
  readonly principal: Principal | null;
  /** Unsent bytes after which the subscriber is closed as slow. */
  readonly maxQueuedBytes: number;
  /**
   * Told once when the stream ends. Pass one function shared by all subscribers: it is
   * kept per subscriber, and thousands of idle subscribers should not each hold a closure.
   */
  readonly onClose: (sub: Subscriber, reason: CloseReason) => void;
}

/**
 * A subscriber: the hub enqueues shared bytes on it; when the unsent bytes pass
 * `maxQueuedBytes` it is closed rather than allowed to grow memory or hold anyone else
 * up. An engine supplies {@link write}, {@link cut} and {@link queuedBytes}, and calls
 * {@link ended} when the client goes away. Once closed, nothing more is written.
 *
 * Thousands of these sit idle at once, so a subscriber holds fields only: no closures,
 * no timers (the hub's one keepalive timer serves them all).
 *
 * @example
 * ```ts
 * import { NDJSON } from "./framing.ts";
 * import { Subscriber } from "./subscriber.ts";
 * class Memory extends Subscriber {
 *   chunks: Uint8Array[] = [];
 *   get queuedBytes(): number { return 0; }
 *   protected write(bytes: Uint8Array): void { this.chunks.push(bytes); }
 *   protected cut(): void {}
 * }
 * const sub = new Memory({ topicSets: [[]], framing: NDJSON, principal: null,
 *   maxQueuedBytes: 1 << 20, onClose: () => {} });
 * sub.send(new TextEncoder().encode("{}\n"));
 * sub.close("shutdown");
 * ```
 */
export abstract class Subscriber {
  readonly id: number = nextId++;
  readonly topicSets: readonly TopicSet[];
  /** The wire format of every event and keepalive this subscriber gets. */
  readonly framing: Framing;
  /** Who authenticated, if anyone; replaced when the ACL is reloaded. */
  principal: Principal | null;
  /** The hub's delivery number of the last event sent, to send each event once. */
  lastDelivery = 0;
  #closed = false;
  /** Bytes of replayed events the budget is raised by until they are read. */
  #replayAllowance = 0;
  readonly #maxQueuedBytes: number;
  readonly #onClose: (sub: Subscriber, reason: CloseReason) => void;

  constructor(opts: SubscriberOptions) {
    this.topicSets = opts.topicSets;
    this.framing = opts.framing;
    this.principal = opts.principal;
    this.#maxQueuedBytes = opts.maxQueuedBytes;
    this.#onClose = opts.onClose;
  }

  /** Bytes handed to the engine but not yet sent; 0 once closed. */
  abstract get queuedBytes(): number;

  /** Hands bytes to the engine; only called while open and within budget. */
  protected abstract write(bytes: Uint8Array): void;

  /**
   * Cuts the engine's stream: the connection closes without the chunked body's last
   * chunk, so the client sees a lost connection, never a clean end of the body. With
   * `flush` the bytes already handed to the connection go out first (a shutdown);
   * otherwise everything queued is dropped at once, freeing its memory. `reason` lets a
   * transport that can say why (a WebSocket close code) say it.
   */
  protected abstract cut(flush: boolean, reason: CloseReason): void;

  /** True once the stream has ended, for whatever reason. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Enqueues bytes. A subscriber past its budget is closed as slow instead.
   *
   * @returns false when the subscriber is (now) closed.
   */
  send(bytes: Uint8Array): boolean {
    if (this.#closed) return false;
    const queued = this.queuedBytes;
    if (this.#replayAllowance > 0 && queued <= this.#maxQueuedBytes) this.#replayAllowance = 0;
    if (queued + bytes.byteLength > this.#maxQueuedBytes + this.#replayAllowance) {
      this.close("slow");
      return false;
    }
    this.write(bytes);
    return true;
  }

  /**
   * Enqueues a replayed event outside the byte budget: a replay is bounded by the history
   * and its bytes are shared with the history, so the budget is raised by what it adds
   * until the subscriber has read it down.
   *
   * @returns the number of bytes enqueued.
   */
  sendReplayed(event: Event): number {
    if (this.#closed) return 0;
    const bytes = this.framing.event(event);
    this.#replayAllowance += bytes.byteLength;
    this.write(bytes);
    return bytes.byteLength;
  }

  /**
   * Ends the stream by cutting it. PyPubSub's protocol has no end of stream: a client
   * learns of one only by losing the connection, and reconnects with its cursor. The
   * ASF's async reader (asfpy) reconnects after a cut but crashes on a clean end of the
   * body. On shutdown the engine first sends what it already wrote to the connection;
   * for any other reason (a slow subscriber, a node that missed events, a revoked login)
   * what is queued is dropped.
   */
  close(reason: CloseReason): void {
    if (this.#closed) return;
    this.#closed = true;
    this.cut(reason === "shutdown", reason);
    this.#onClose(this, reason);
  }

  /** The engine's report that the stream ended on its side (the client went away). */
  protected ended(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#onClose(this, "client");
  }
}
