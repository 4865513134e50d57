/**
 * The metrics of a cluster node, added to the service's registry: how long events take
 * from the stream to this node's subscribers, Redis failures and reconnects, the stream's
 * length, and events this node never saw.
 *
 * @module
 */

import type {
  Counter,
  Histogram,
  LabeledCounter,
  MetricsRegistry,
  Reading,
} from "../ops/metrics.ts";

/**
 * Bucket bounds of the bus lag, in seconds. An entry's time has millisecond resolution,
 * so the first bound is 1 ms; the last ones catch a node catching up after an outage.
 */
export const LAG_BUCKETS: readonly number[] = [
  0.001,
  0.0025,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
  30,
];

/** Which Redis call failed, the label of `denopubsub_redis_errors_total`. */
export type RedisOp = "publish" | "read" | "maintain";

/**
 * The cluster metrics of one node.
 *
 * @example
 * ```ts
 * import { MetricsRegistry } from "../ops/metrics.ts";
 * import { BusMetrics } from "./metrics.ts";
 * const metrics = new BusMetrics(new MetricsRegistry());
 * metrics.errors.inc(["read"]);
 * console.assert(metrics.errors.get(["read"]) === 1);
 * ```
 */
export class BusMetrics {
  /** Entry time on the Redis server to delivery to this node's hub. */
  readonly lag: Histogram;
  readonly errors: LabeledCounter;
  readonly reconnects: Counter;
  readonly streamLength: Reading;
  readonly missed: Counter;

  constructor(registry: MetricsRegistry) {
    this.lag = registry.histogram(
      "denopubsub_bus_lag_seconds",
      "Time from an event's append to the Redis stream (the entry id's time, Redis clock) to " +
        "its delivery to this node's subscribers (this node's clock).",
      LAG_BUCKETS,
    );
    this.errors = registry.labeledCounter(
      "denopubsub_redis_errors_total",
      "Failed Redis calls, by op: publish (an append, answered 503), read (the stream " +
        "reader, retried), maintain (trimming by age, stream length).",
      ["op"],
    );
    this.reconnects = registry.counter(
      "denopubsub_redis_reconnects_total",
      "Connections to Redis made again after one was lost.",
    );
    this.streamLength = registry.reading(
      "denopubsub_stream_length",
      "Entries in the Redis stream, as last read (every 5 s).",
      () => 0,
    );
    this.missed = registry.counter(
      "denopubsub_bus_missed_events_total",
      "Events trimmed from the stream before this node could read them (it fell too far behind).",
    );
  }
}
