/**
 * Metrics: counters, values read at scrape time, and a fixed-bucket histogram, kept in one
 * registry and rendered in the Prometheus text exposition format (version 0.0.4).
 *
 * Updating a metric is a field increment, so the hot paths (publish, fan-out) can count
 * without measurable cost. {@link ServiceMetrics} is the service's own set; other modules
 * add theirs to its registry (e.g. `registry.reading(...)` for an LDAP cache size).
 *
 * @module
 */

/** The metric types this registry renders. */
export type MetricType = "counter" | "gauge" | "histogram";

/** Anything the registry can render. */
interface Metric {
  readonly name: string;
  readonly help: string;
  readonly type: MetricType;
  /** Appends the sample lines (without HELP/TYPE). */
  samples(out: string[]): void;
}

/** A number as Prometheus writes it. */
function formatValue(n: number): string {
  if (Number.isNaN(n)) return "NaN";
  if (n === Infinity) return "+Inf";
  if (n === -Infinity) return "-Inf";
  return String(n);
}

function escapeLabel(value: string): string {
  return value.replaceAll("\\", "\\\\").replaceAll('"', '\\"').replaceAll("\n", "\\n");
}

function escapeHelp(help: string): string {
  return help.replaceAll("\\", "\\\\").replaceAll("\n", "\\n");
}

/** A value that only goes up, e.g. events delivered. */
export class Counter implements Metric {
  readonly type = "counter";
  /** The current total. */
  value = 0;

  constructor(readonly name: string, readonly help: string) {}

  /** Adds `n` (default 1). */
  inc(n = 1): void {
    this.value += n;
  }

  samples(out: string[]): void {
    out.push(`${this.name} ${formatValue(this.value)}`);
  }
}

/** One labelled series of a {@link LabeledCounter}. */
export interface CounterChild {
  value: number;
}

/**
 * A counter split by label values, e.g. rejected publishes by reason. A series appears
 * once it has been counted.
 *
 * @example
 * ```ts
 * import { LabeledCounter } from "./metrics.ts";
 * const rejected = new LabeledCounter("x_rejected_total", "Rejections.", ["reason"]);
 * rejected.inc(["403"]);
 * console.assert(rejected.get(["403"]) === 1);
 * ```
 */
export class LabeledCounter implements Metric {
  readonly type = "counter";
  readonly #children = new Map<string, { labels: string; child: CounterChild }>();

  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly string[],
  ) {}

  /** The series for these label values (in `labelNames` order), created at first use. */
  labels(values: readonly string[]): CounterChild {
    const key = values.join("\u0000");
    let entry = this.#children.get(key);
    if (!entry) {
      const labels = this.labelNames.map((l, i) => `${l}="${escapeLabel(values[i] ?? "")}"`);
      entry = { labels: labels.join(","), child: { value: 0 } };
      this.#children.set(key, entry);
    }
    return entry.child;
  }

  /** Adds `n` (default 1) to the series for these label values. */
  inc(values: readonly string[], n = 1): void {
    this.labels(values).value += n;
  }

  /** The total of one series; 0 when it was never counted. */
  get(values: readonly string[]): number {
    return this.#children.get(values.join("\u0000"))?.child.value ?? 0;
  }

  samples(out: string[]): void {
    for (const { labels, child } of this.#children.values()) {
      out.push(`${this.name}{${labels}} ${formatValue(child.value)}`);
    }
  }
}

/**
 * A value read when metrics are scraped, from a function its owner sets: the number of
 * subscribers, the size of the history, an LDAP cache's hits. Assigning `read` later lets
 * a module that starts after the registry report its own value.
 */
export class Reading implements Metric {
  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: "gauge" | "counter",
    /** Called at every scrape; must be cheap and must not throw. */
    public read: () => number,
  ) {}

  samples(out: string[]): void {
    out.push(`${this.name} ${formatValue(this.read())}`);
  }
}

/**
 * A histogram over fixed bucket bounds: `observe` is a short scan of the bounds and three
 * additions, no allocation.
 *
 * @example
 * ```ts
 * import { Histogram } from "./metrics.ts";
 * const h = new Histogram("x_seconds", "Latency.", [0.001, 0.01, 0.1]);
 * h.observe(0.005);
 * console.assert(h.count === 1);
 * ```
 */
export class Histogram implements Metric {
  readonly type = "histogram";
  readonly bounds: readonly number[];
  /** Observations per bucket (not cumulative); the last slot is above every bound. */
  readonly #counts: number[];
  /** Sum of every observed value. */
  sum = 0;
  /** Number of observations. */
  count = 0;

  constructor(readonly name: string, readonly help: string, bounds: readonly number[]) {
    this.bounds = [...bounds].sort((a, b) => a - b);
    this.#counts = new Array(this.bounds.length + 1).fill(0);
  }

  /** Records one value. */
  observe(value: number): void {
    let i = 0;
    while (i < this.bounds.length && value > this.bounds[i]!) i++;
    this.#counts[i]!++;
    this.sum += value;
    this.count++;
  }

  samples(out: string[]): void {
    let cumulative = 0;
    this.bounds.forEach((bound, i) => {
      cumulative += this.#counts[i]!;
      out.push(`${this.name}_bucket{le="${formatValue(bound)}"} ${cumulative}`);
    });
    out.push(`${this.name}_bucket{le="+Inf"} ${this.count}`);
    out.push(`${this.name}_sum ${formatValue(this.sum)}`);
    out.push(`${this.name}_count ${this.count}`);
  }
}

/**
 * The metrics of one process, rendered in registration order.
 *
 * @example
 * ```ts
 * import { MetricsRegistry } from "./metrics.ts";
 * const registry = new MetricsRegistry();
 * registry.counter("x_events_total", "Events.").inc();
 * console.assert(registry.render().includes("x_events_total 1"));
 * ```
 */
export class MetricsRegistry {
  readonly #metrics = new Map<string, Metric>();

  /** Adds a counter. @throws {Error} when the name is taken. */
  counter(name: string, help: string): Counter {
    return this.#add(new Counter(name, help));
  }

  /** Adds a counter with labels. @throws {Error} when the name is taken. */
  labeledCounter(name: string, help: string, labelNames: readonly string[]): LabeledCounter {
    return this.#add(new LabeledCounter(name, help, labelNames));
  }

  /** Adds a histogram over fixed bounds. @throws {Error} when the name is taken. */
  histogram(name: string, help: string, bounds: readonly number[]): Histogram {
    return this.#add(new Histogram(name, help, bounds));
  }

  /**
   * Adds a value read at scrape time. Registering a reading under a name again replaces
   * its function, so a module rebuilt on reload can register again.
   *
   * @throws {Error} when the name is taken by a metric that is not a reading.
   */
  reading(
    name: string,
    help: string,
    read: () => number,
    type: "gauge" | "counter" = "gauge",
  ): Reading {
    const existing = this.#metrics.get(name);
    if (existing instanceof Reading && existing.type === type) {
      existing.read = read;
      return existing;
    }
    return this.#add(new Reading(name, help, type, read));
  }

  /** The names registered, in order. */
  names(): string[] {
    return [...this.#metrics.keys()];
  }

  /** Every metric in the Prometheus text exposition format, with HELP and TYPE lines. */
  render(): string {
    const out: string[] = [];
    for (const metric of this.#metrics.values()) {
      out.push(`# HELP ${metric.name} ${escapeHelp(metric.help)}`);
      out.push(`# TYPE ${metric.name} ${metric.type}`);
      metric.samples(out);
    }
    return out.join("\n") + "\n";
  }

  #add<T extends Metric>(metric: T): T {
    if (this.#metrics.has(metric.name)) throw new Error(`metric ${metric.name} already exists`);
    this.#metrics.set(metric.name, metric);
    return metric;
  }
}

/** Bucket bounds of the publish latency histogram, in seconds (100 µs to 1 s). */
export const LATENCY_BUCKETS: readonly number[] = [
  0.0001,
  0.00025,
  0.0005,
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
];

/**
 * The service's metrics, one object shared by the server, the hub and the SQS reader:
 * each count is made in exactly one place. `subscribers` and `historyEvents` read 0 until
 * their owners assign `read`.
 *
 * @example
 * ```ts
 * import { ServiceMetrics } from "./metrics.ts";
 * const metrics = new ServiceMetrics();
 * metrics.accepted.inc();
 * console.assert(metrics.registry.render().includes("denopubsub_events_accepted_total 1"));
 * ```
 */
export class ServiceMetrics {
  readonly registry: MetricsRegistry = new MetricsRegistry();
  readonly subscribers: Reading = this.registry.reading(
    "denopubsub_subscribers",
    "Subscriber streams open now.",
    () => 0,
  );
  readonly requests: Counter = this.registry.counter(
    "denopubsub_requests_total",
    "HTTP requests received on the main listeners.",
  );
  readonly refused: LabeledCounter = this.registry.labeledCounter(
    "denopubsub_requests_refused_total",
    "HTTP requests on the main listeners answered with an error status, by status.",
    ["status"],
  );
  readonly accepted: Counter = this.registry.counter(
    "denopubsub_events_accepted_total",
    "Events accepted for delivery, from HTTP and SQS.",
  );
  readonly rejected: LabeledCounter = this.registry.labeledCounter(
    "denopubsub_publishes_rejected_total",
    "Publishes refused, by source (http, sqs) and reason (HTTP status, or bad_body for SQS).",
    ["source", "reason"],
  );
  readonly delivered: Counter = this.registry.counter(
    "denopubsub_events_delivered_total",
    "Events enqueued on subscriber streams, one per event and subscriber.",
  );
  readonly bytesSent: Counter = this.registry.counter(
    "denopubsub_bytes_sent_total",
    "Bytes enqueued on subscriber streams, events and keepalive lines.",
  );
  readonly evictedSlow: Counter = this.registry.counter(
    "denopubsub_subscribers_evicted_total",
    "Subscribers disconnected for having more than server.max_queued_bytes unsent.",
  );
  readonly publishSeconds: Histogram = this.registry.histogram(
    "denopubsub_publish_duration_seconds",
    "Time from the arrival of a publish to the end of its fan-out to subscribers.",
    LATENCY_BUCKETS,
  );
  readonly historyEvents: Reading = this.registry.reading(
    "denopubsub_history_events",
    "Events held in the history for replay.",
    () => 0,
  );
  readonly sqsMessages: LabeledCounter = this.registry.labeledCounter(
    "denopubsub_sqs_messages_total",
    "SQS messages received, by queue and result (published, duplicate, rejected).",
    ["queue", "result"],
  );
  readonly sqsErrors: LabeledCounter = this.registry.labeledCounter(
    "denopubsub_sqs_errors_total",
    "Failed SQS calls (receive, delete, queue lookup), by queue; each is retried after a backoff.",
    ["queue"],
  );
}
