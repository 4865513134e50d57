/**
 * The publishing side of a load run: K keep-alive connections publishing JSON events with
 * a send timestamp, either at a fixed rate or as fast as the server accepts them.
 *
 * @module
 */

import { PublisherConn, publishRequest } from "./publisher_conn.ts";

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

const PAD = "x";

/**
 * A JSON event body of exactly `bytes` bytes (when that is at least ~50):
 * `{"t":<epoch ms>,"seq":<n>,"pad":"xxx…"}` followed by `suffix`. `t` comes first so
 * subscribers find it without parsing the line.
 *
 * @example
 * ```ts
 * import { eventBody } from "./publishers.ts";
 * const body = eventBody(1700000000000.25, 7, 64, "");
 * console.assert(body.length === 64 && JSON.parse(body).seq === 7);
 * ```
 */
export function eventBody(t: number, seq: number, bytes: number, suffix: string): string {
  const bare = `{"t":${t.toFixed(3)},"seq":${seq},"pad":""}`;
  const pad = Math.max(0, bytes - bare.length - suffix.length);
  return `{"t":${t.toFixed(3)},"seq":${seq},"pad":"${PAD.repeat(pad)}"}${suffix}`;
}

function nowMs(): number {
  return performance.timeOrigin + performance.now();
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}

/** Runs one publishing plan to its end (duration or event count). */
export async function publish(
  plan: PublishPlan,
  deliveries: DeliveryProgress,
): Promise<PublishResult> {
  const conns = await Promise.all(
    Array.from({ length: plan.connections }, () => PublisherConn.open(plan.port)),
  );
  const state = new PublishState(plan);
  try {
    if (plan.rate === null) await publishFlat(plan, conns, state, deliveries);
    else await publishAtRate(plan.rate, conns, state);
  } finally {
    for (const conn of conns) conn.close();
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

  constructor(readonly plan: PublishPlan) {
    this.endMs = nowMs() + plan.durationMs;
  }

  get more(): boolean {
    return this.result.sent < this.plan.maxEvents && nowMs() < this.endMs;
  }

  /** Sends the next event on `conn`, replacing the connection if it has failed. */
  async sendNext(conn: PublisherConn): Promise<PublisherConn> {
    const { plan, result } = this;
    const seq = result.sent++;
    const topic = seq % plan.paths.length;
    this.sentDeliveries += plan.fanout[topic]!;
    const t = nowMs();
    if (result.firstSendMs === 0) result.firstSendMs = t;
    const body = eventBody(t, seq, plan.bodyBytes, plan.suffix);
    try {
      const status = await conn.send(publishRequest("POST", plan.paths[topic]!, body));
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
    return conn.usable ? conn : await PublisherConn.open(plan.port);
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
  conns: PublisherConn[],
  state: PublishState,
  deliveries: DeliveryProgress,
): Promise<void> {
  const loop = async (first: PublisherConn) => {
    let conn = first;
    while (state.more) {
      if (state.sentDeliveries - deliveries.received() > plan.window) {
        await deliveries.progress(50);
        continue;
      }
      conn = await state.sendNext(conn);
    }
    return conn;
  };
  const last = await Promise.all(conns.map(loop));
  last.forEach((conn, i) => {
    if (conn !== conns[i]) conn.close();
  });
}

/** Sends on a fixed schedule, on whichever connection is free. */
async function publishAtRate(
  rate: number,
  conns: PublisherConn[],
  state: PublishState,
): Promise<void> {
  const idle = [...conns];
  const freed: Array<() => void> = [];
  const inFlight = new Set<Promise<void>>();
  const start = nowMs();
  for (let i = 0;; i++) {
    await sleep(start + (i * 1000) / rate - nowMs());
    if (!state.more) break;
    while (idle.length === 0) await new Promise<void>((resolve) => freed.push(resolve));
    const conn = idle.pop()!;
    const task = state.sendNext(conn).then((next) => {
      idle.push(next);
      inFlight.delete(task);
      freed.shift()?.();
    });
    inFlight.add(task);
  }
  await Promise.all(inFlight);
  for (const conn of idle) if (!conns.includes(conn)) conn.close();
}
