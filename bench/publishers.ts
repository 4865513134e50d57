/**
 * The publishing side of a load run: K keep-alive connections publishing JSON events with
 * a send timestamp, either at a fixed rate or as fast as the server accepts them.
 *
 * @module
 */

import { EventRequest } from "./event_request.ts";
import { PublisherConn } from "./publisher_conn.ts";

const encoder = new TextEncoder();

/** What to publish and how fast. */
export interface PublishPlan {
  port: number;
  /** Publish paths, used round-robin: event `seq` goes to `paths[seq % paths.length]`. */
  paths: readonly string[];
  /** Subscribers expected to receive an event sent to each path (same order as `paths`). */
  fanout: readonly number[];
  /** Size of each body in bytes, including `suffix`. */
  bodyBytes: number;
  /** Appended to each body (a newline for servers that do not frame events themselves). */
  suffix: string;
  connections: number;
  /** Events per second, or null to publish as fast as the server accepts. */
  rate: number | null;
  durationMs: number;
  /** Upper bound on events sent, whatever the duration. */
  maxEvents: number;
  /**
   * At the maximum rate: deliveries allowed to be outstanding (sent but not yet received),
   * so a server that accepts faster than it delivers is measured at what it delivers.
   */
  window: number;
}

/** How publishing went. */
export interface PublishResult {
  sent: number;
  /** Answered 2xx. */
  accepted: number;
  /** Answered with another status. */
  rejected: number;
  /** First non-2xx status or connection error, if any. */
  firstError: string | null;
  /** Deliveries the accepted events should cause. */
  expected: number;
  /** Epoch ms of the first send and of the last answer. */
  firstSendMs: number;
  lastAnswerMs: number;
}

/** Reports deliveries so far and waits for more; provided by the subscribers. */
export interface DeliveryProgress {
  received(): number;
  progress(timeoutMs: number): Promise<void>;
}

function nowMs(): number {
  return performance.timeOrigin + performance.now();
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}

/** One publisher connection with its own request buffer; reconnects after a failure. */
class Publisher {
  #conn: PublisherConn;
  readonly #request: EventRequest;

  private constructor(readonly port: number, conn: PublisherConn, request: EventRequest) {
    this.#conn = conn;
    this.#request = request;
  }

  static async open(plan: PublishPlan): Promise<Publisher> {
    const request = new EventRequest(plan.paths[0]!, plan.bodyBytes, plan.suffix);
    return new Publisher(plan.port, await PublisherConn.open(plan.port), request);
  }

  /** Publishes event `seq` stamped with the current time; returns the response status. */
  async send(path: Uint8Array, seq: number): Promise<number> {
    if (!this.#conn.usable) this.#conn = await PublisherConn.open(this.port);
    return await this.#conn.send(this.#request.stamp(path, nowMs(), seq));
  }

  close(): void {
    this.#conn.close();
  }
}

/** Runs one publishing plan to its end (duration or event count). */
export async function publish(
  plan: PublishPlan,
  deliveries: DeliveryProgress,
): Promise<PublishResult> {
  const publishers = await Promise.all(
    Array.from({ length: plan.connections }, () => Publisher.open(plan)),
  );
  const state = new PublishState(plan);
  try {
    if (plan.rate === null) await publishFlat(plan, publishers, state, deliveries);
    else await publishAtRate(plan.rate, publishers, state);
  } finally {
    for (const publisher of publishers) publisher.close();
  }
  return state.result;
}

class PublishState {
  readonly result: PublishResult = {
    sent: 0,
    accepted: 0,
    rejected: 0,
    firstError: null,
    expected: 0,
    firstSendMs: 0,
    lastAnswerMs: 0,
  };
  /** Deliveries of every event sent so far, answered or not. */
  sentDeliveries = 0;
  readonly endMs: number;
  readonly #paths: Uint8Array[];

  constructor(readonly plan: PublishPlan) {
    this.endMs = nowMs() + plan.durationMs;
    this.#paths = plan.paths.map((path) => encoder.encode(path));
  }

  get more(): boolean {
    return this.result.sent < this.plan.maxEvents && nowMs() < this.endMs;
  }

  /** Sends the next event through `publisher`. */
  async sendNext(publisher: Publisher): Promise<void> {
    const { plan, result } = this;
    const seq = result.sent++;
    const topic = seq % plan.paths.length;
    this.sentDeliveries += plan.fanout[topic]!;
    if (result.firstSendMs === 0) result.firstSendMs = nowMs();
    try {
      const status = await publisher.send(this.#paths[topic]!, seq);
      result.lastAnswerMs = nowMs();
      if (status >= 200 && status < 300) {
        result.accepted++;
        result.expected += plan.fanout[topic]!;
      } else {
        this.#reject(topic, `status ${status}`);
      }
    } catch (err) {
      this.#reject(topic, err instanceof Error ? err.message : String(err));
    }
  }

  #reject(topic: number, error: string): void {
    this.result.rejected++;
    this.result.firstError ??= error;
    this.sentDeliveries -= this.plan.fanout[topic]!;
  }
}

/** Every connection publishes back to back, held back only by the delivery window. */
async function publishFlat(
  plan: PublishPlan,
  publishers: Publisher[],
  state: PublishState,
  deliveries: DeliveryProgress,
): Promise<void> {
  const loop = async (publisher: Publisher) => {
    while (state.more) {
      if (state.sentDeliveries - deliveries.received() > plan.window) {
        await deliveries.progress(50);
        continue;
      }
      await state.sendNext(publisher);
    }
  };
  await Promise.all(publishers.map(loop));
}

/** Sends on a fixed schedule, on whichever connection is free. */
async function publishAtRate(
  rate: number,
  publishers: Publisher[],
  state: PublishState,
): Promise<void> {
  const idle = [...publishers];
  const freed: Array<() => void> = [];
  const inFlight = new Set<Promise<void>>();
  const start = nowMs();
  for (let i = 0;; i++) {
    await sleep(start + (i * 1000) / rate - nowMs());
    if (!state.more) break;
    while (idle.length === 0) await new Promise<void>((resolve) => freed.push(resolve));
    const publisher = idle.pop()!;
    const task = state.sendNext(publisher).then(() => {
      idle.push(publisher);
      inFlight.delete(task);
      freed.shift()?.();
    });
    inFlight.add(task);
  }
  await Promise.all(inFlight);
}
