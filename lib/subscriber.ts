/**
 * One subscriber: the response body stream, its framing, and its byte budget.
 *
 * @module
 */

import type { Principal } from "./acl.ts";
import type { Event } from "./event.ts";
import type { TopicSet } from "./topics.ts";

/** Why a stream ended, for the log line and the metrics. */
export type CloseReason = "client" | "slow" | "shutdown" | "revoked";

let nextId = 1;

/** The error a slow subscriber's stream is aborted with; expected, so never logged as one. */
export class SlowSubscriberError extends Error {
  override name = "SlowSubscriberError";
}

/**
 * A subscriber owns the `ReadableStream` that is its response body. The hub enqueues
 * shared bytes on it; when the unsent bytes pass `maxQueuedBytes` the subscriber is
 * closed rather than allowed to grow memory or hold anyone else up.
 *
 * @example
 * ```ts
 * import { Subscriber } from "./subscriber.ts";
 * const sub = new Subscriber({ topicSets: [[]], oldschool: false, principal: null,
 *   maxQueuedBytes: 1 << 20, onClose: () => {} });
 * sub.send(new TextEncoder().encode("{}\n"));
 * await sub.stream.cancel();
 * ```
 */
export class Subscriber {
  readonly id: number = nextId++;
  readonly topicSets: readonly TopicSet[];
  /** Wants `\0` after each line (PyPubSub's "oldschool" clients). */
  readonly oldschool: boolean;
  /** Who authenticated, if anyone; replaced when the ACL is reloaded. */
  principal: Principal | null;
  /** The hub's delivery number of the last event sent, to send each event once. */
  lastDelivery = 0;
  readonly stream: ReadableStream<Uint8Array>;
  #controller!: ReadableStreamDefaultController<Uint8Array>;
  #closed = false;
  /** Bytes of replayed events the budget is raised by until they are read. */
  #replayAllowance = 0;
  readonly #maxQueuedBytes: number;
  readonly #onClose: (sub: Subscriber, reason: CloseReason) => void;

  constructor(opts: {
    topicSets: readonly TopicSet[];
    oldschool: boolean;
    principal: Principal | null;
    maxQueuedBytes: number;
    onClose: (sub: Subscriber, reason: CloseReason) => void;
  }) {
    this.topicSets = opts.topicSets;
    this.oldschool = opts.oldschool;
    this.principal = opts.principal;
    this.#maxQueuedBytes = opts.maxQueuedBytes;
    this.#onClose = opts.onClose;
    this.stream = new ReadableStream<Uint8Array>({
      start: (controller) => {
        this.#controller = controller;
      },
      cancel: () => this.#finish("client"),
    }, { highWaterMark: 0, size: (chunk) => chunk.byteLength });
  }

  /** Bytes enqueued but not yet taken by the HTTP engine. */
  get queuedBytes(): number {
    return this.#closed ? 0 : -(this.#controller.desiredSize ?? 0);
  }

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
    this.#controller.enqueue(bytes);
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
    const bytes = this.oldschool ? event.oldschoolLine : event.line;
    this.#replayAllowance += bytes.byteLength;
    this.#controller.enqueue(bytes);
    return bytes.byteLength;
  }

  /** Sends an event in this subscriber's framing. */
  sendEvent(event: Event): boolean {
    return this.send(this.oldschool ? event.oldschoolLine : event.line);
  }

  /**
   * Ends the stream. A slow subscriber's stream is aborted, dropping what it queued, so
   * its memory is freed now; otherwise the client sees a clean end of the body.
   */
  close(reason: CloseReason): void {
    if (this.#closed) return;
    try {
      if (reason === "slow") this.#controller.error(new SlowSubscriberError("subscriber too slow"));
      else this.#controller.close();
    } catch {
      // Already errored by the engine: nothing left to end.
    }
    this.#finish(reason);
  }

  #finish(reason: CloseReason): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#onClose(this, reason);
  }
}
