/**
 * The benchmark scenarios (a)–(g) and the targets DenoPubSub is held to. Each scenario is
 * bounded in count and time; `quick` shortens them and uses fewer idle subscribers.
 *
 * @module
 */

import type { LoadResult, LoadSpec } from "./load_spec.ts";

/** Load parameters that do not depend on the server under test. */
export type ScenarioLoad = Omit<
  LoadSpec,
  | "port"
  | "transport"
  | "serverPid"
  | "helperPids"
  | "topicPrefix"
  | "subscribePath"
  | "publishPath"
  | "subscribeHeaders"
  | "bodySuffix"
>;

/** The same figure of the servers a target may be relative to; null when not measured. */
export interface References {
  readonly nchan: number | null;
  /** The runtime of our engine alone (`Deno.serve` or `node:http` answering 202). */
  readonly runtime: number | null;
}

/** A target a figure of ours is held to, possibly relative to nchan's or the runtime's. */
export interface Goal {
  /** How the target reads in the table, e.g. `≥ 2× nchan`. */
  readonly text: string;
  /** True when met, false when not, null when the figures needed are missing. */
  check(ours: number, refs: References): boolean | null;
}

/** One figure a scenario reports. */
export interface Metric {
  readonly label: string;
  readonly unit: "/s" | "ms" | "%" | "KB" | "µs";
  pick(result: LoadResult): number;
  /** Whether a larger value is better, for ratios. */
  readonly higherIsBetter: boolean;
  readonly goal?: Goal;
}

/** One row group of the table. */
export interface Scenario {
  readonly id: string;
  readonly name: string;
  readonly title: string;
  load(quick: boolean): ScenarioLoad;
  readonly metrics: readonly Metric[];
}

const BASE: ScenarioLoad = {
  subscribers: 1000,
  topics: 1,
  bodyBytes: 1024,
  publishers: 0,
  slowSubscribers: 1,
  rate: null,
  durationMs: 0,
  maxEvents: 10_000_000,
  windowEvents: 0,
  settleMs: 500,
  drainMs: 5000,
  openTimeoutMs: 60_000,
};

/** Idle subscribers in (d), as in the issue; bounded by the open-file limit in the runner. */
export const IDLE_SUBSCRIBERS = 19_900;

const atLeastTimesNchan = (factor: number): Goal => ({
  text: factor === 1 ? "≥ nchan" : `≥ ${factor}× nchan`,
  check: (ours, { nchan }) => nchan === null ? null : ours >= factor * nchan,
});

const atLeastTimesRuntime = (factor: number): Goal => ({
  text: `≥ ${factor}× runtime alone`,
  check: (ours, { runtime }) => runtime === null ? null : ours >= factor * runtime,
});

const atMostNchan: Goal = {
  text: "≤ nchan",
  check: (ours, { nchan }) => nchan === null ? null : ours <= nchan,
};

const atMost = (limit: number, unit: string): Goal => ({
  text: `≤ ${limit} ${unit}`,
  check: (ours) => ours <= limit,
});

const deliveriesPerSecond = (goal: Goal): Metric => ({
  label: "deliveries/s",
  unit: "/s",
  pick: (r) => r.deliveries.perSecond,
  higherIsBetter: true,
  goal,
});

const lost: Metric = {
  label: "events lost",
  unit: "%",
  pick: (r) => r.deliveries.expected > 0 ? (100 * r.deliveries.lost) / r.deliveries.expected : 0,
  higherIsBetter: false,
};

const p50: Metric = {
  label: "latency p50",
  unit: "ms",
  pick: (r) => r.latency.p50,
  higherIsBetter: false,
};

const p99 = (goal?: Goal): Metric => ({
  label: "latency p99",
  unit: "ms",
  pick: (r) => r.latency.p99,
  higherIsBetter: false,
  goal,
});

/**
 * The server's CPU time per accepted event (its helpers', such as a cluster node's Redis,
 * included). At a fixed rate with and without subscribers, it tells what an event costs
 * apart from its deliveries: what the cluster bus adds should not grow with fan-out.
 */
const cpuPerEvent: Metric = {
  label: "server CPU per event",
  unit: "µs",
  pick: (r) =>
    r.cpu && r.publish.accepted > 0 ? (r.cpu.serverSeconds * 1e6) / r.publish.accepted : NaN,
  higherIsBetter: false,
};

/** Every scenario, in table order. */
export const SCENARIOS: readonly Scenario[] = [
  {
    id: "a",
    name: "fanout",
    title: "1,000 subscribers, 1 KB events, publish as fast as accepted",
    load: (quick) => ({
      ...BASE,
      publishers: 8,
      durationMs: quick ? 2000 : 5000,
      windowEvents: 512,
    }),
    metrics: [deliveriesPerSecond(atLeastTimesNchan(2)), lost],
  },
  {
    id: "b",
    name: "latency100",
    title: "same at a fixed 100 events/s",
    load: (quick) => ({ ...BASE, publishers: 16, rate: 100, durationMs: quick ? 2000 : 5000 }),
    metrics: [p50, p99(atMost(20, "ms")), cpuPerEvent, lost],
  },
  {
    id: "c",
    name: "latency10",
    title: "fixed 10 events/s",
    load: (quick) => ({ ...BASE, publishers: 4, rate: 10, durationMs: quick ? 3000 : 6000 }),
    metrics: [p50, p99(atMostNchan), lost],
  },
  {
    id: "d",
    name: "idle",
    title: `${IDLE_SUBSCRIBERS.toLocaleString("en")} idle subscribers, then 1 event/s`,
    load: (quick) => ({
      ...BASE,
      subscribers: quick ? 5000 : IDLE_SUBSCRIBERS,
      publishers: 1,
      rate: 1,
      durationMs: quick ? 3000 : 10_000,
      settleMs: 1000,
    }),
    metrics: [
      {
        label: "delivered within 1 s",
        unit: "%",
        pick: (r) => r.deliveries.withinSecondPct,
        higherIsBetter: true,
        goal: { text: "100 %", check: (ours) => ours >= 100 },
      },
      p99(),
    ],
  },
  {
    id: "e",
    name: "memory",
    title: "resident memory per idle subscriber",
    load: (quick) => ({
      ...BASE,
      subscribers: quick ? 2000 : 10_000,
      slowSubscribers: 0,
      settleMs: 2000,
    }),
    metrics: [{
      label: "KB per subscriber",
      unit: "KB",
      pick: (r) => r.memory?.perSubscriberKB ?? NaN,
      higherIsBetter: false,
      goal: atMost(10, "KB"),
    }],
  },
  {
    id: "f",
    name: "topics",
    title: "1,000 subscribers on 1,000 distinct topics, round-robin",
    load: (quick) => ({
      ...BASE,
      topics: 1000,
      publishers: 32,
      durationMs: quick ? 2000 : 5000,
      windowEvents: 4096,
    }),
    metrics: [deliveriesPerSecond(atLeastTimesNchan(0.5)), lost],
  },
  {
    id: "g",
    name: "publish",
    title: "no subscribers, 32 keep-alive connections, 64 B bodies",
    load: (quick) => ({
      ...BASE,
      subscribers: 0,
      slowSubscribers: 0,
      bodyBytes: 64,
      publishers: 32,
      durationMs: quick ? 2000 : 5000,
    }),
    metrics: [{
      label: "publishes/s",
      unit: "/s",
      pick: (r) => r.publish.perSecond,
      higherIsBetter: true,
      goal: atLeastTimesRuntime(0.8),
    }],
  },
  {
    id: "h",
    name: "publish100",
    title: "no subscribers, a fixed 100 events/s, 1 KB events",
    load: (quick) => ({
      ...BASE,
      subscribers: 0,
      slowSubscribers: 0,
      publishers: 16,
      rate: 100,
      durationMs: quick ? 2000 : 5000,
    }),
    metrics: [cpuPerEvent],
  },
];

/**
 * The scenarios named by `names` (letters or names, e.g. `a`, `fanout`), in table order.
 *
 * @throws {Error} naming an unknown scenario.
 */
export function selectScenarios(names: readonly string[]): Scenario[] {
  if (names.length === 0) return [...SCENARIOS];
  const wanted = new Set<string>();
  for (const name of names.flatMap((n) => n.split(","))) {
    const found = SCENARIOS.find((s) => s.id === name || s.name === name);
    if (!found) {
      const known = SCENARIOS.map((s) => `${s.id}/${s.name}`).join(", ");
      throw new Error(`unknown scenario ${JSON.stringify(name)}; known: ${known}`);
    }
    wanted.add(found.id);
  }
  return SCENARIOS.filter((s) => wanted.has(s.id));
}
