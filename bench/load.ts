/**
 * The load generator: one process, one run. Takes a {@link LoadSpec} as JSON in its first
 * argument, opens the subscribers, reads the server's memory, publishes, waits for the
 * deliveries, and writes a {@link LoadResult} as JSON on stdout. The runner pins it to its
 * own core.
 *
 * @module
 */

import type { LoadResult, LoadSpec } from "./load_spec.ts";
import { topicPath } from "./load_spec.ts";
import { publish, type PublishPlan, type PublishResult } from "./publishers.ts";
import { cpuUsage } from "node:process";
import { readCpuSeconds, readMachineBusySeconds, readRssKB } from "./proc.ts";
import { SlowSubscribers } from "./slow_subscribers.ts";
import { type Subscribers, subscriberSet } from "./transport.ts";

/** Subscribers connecting at once; stays well under the listen backlog. */
const OPEN_CONCURRENCY = 200;
/** Subscribers opened and closed first so one-time server costs stay out of the figure. */
const WARMUP_SUBSCRIBERS = 20;
/**
 * Publishing to the warm-up subscribers before anything is counted, so servers that
 * compile their hot paths at run time (V8's JIT) are measured warm, as they run in service.
 * V8 kept compiling DenoPubSub's publish path for about 8 s of load (see bench/README.md).
 */
export const WARMUP_PUBLISH_MS = 5000;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function bufferBytes(subscribers: number): number {
  return subscribers > 2000 ? 4096 : 65536;
}

async function warmUp(spec: LoadSpec): Promise<void> {
  const path = topicPath(spec.subscribePath, `${spec.topicPrefix}warm`, 0);
  const warm = subscriberSet(spec.transport, {
    port: spec.port,
    paths: Array(WARMUP_SUBSCRIBERS).fill(path),
    headers: spec.subscribeHeaders,
    bufferBytes: 4096,
  });
  const opened = await warm.open(OPEN_CONCURRENCY, Date.now() + spec.openTimeoutMs);
  if (spec.publishers > 0) {
    const pub = await publishTo(spec, warm, {
      paths: [topicPath(spec.publishPath, `${spec.topicPrefix}warm`, 0)],
      fanout: [opened.opened],
      rate: null,
      durationMs: WARMUP_PUBLISH_MS,
      window: 512 * Math.max(1, opened.opened),
    });
    await drain(warm, pub.expected, spec.drainMs);
  }
  await warm.close();
  await sleep(spec.settleMs);
}

/** Publishes with the spec's connections and bodies, counting what `subs` receive. */
function publishTo(
  spec: LoadSpec,
  subs: Subscribers,
  plan: Pick<PublishPlan, "paths" | "fanout" | "rate" | "durationMs" | "window">,
): Promise<PublishResult> {
  return publish({
    ...plan,
    port: spec.port,
    bodyBytes: spec.bodyBytes,
    suffix: spec.bodySuffix,
    connections: spec.publishers,
    maxEvents: spec.maxEvents,
  }, { received: () => subs.stats.received, progress: (ms) => subs.progress(ms) });
}

/** Waits for the outstanding deliveries, polling so that 20,000 streams cost no timers. */
async function drain(subs: Subscribers, expected: number, drainMs: number): Promise<void> {
  const end = Date.now() + drainMs;
  while (subs.stats.received < expected && Date.now() < end) await sleep(10);
}

/** Runs one load run against a server that is already listening. */
export async function runLoad(spec: LoadSpec): Promise<LoadResult> {
  const paths = Array.from(
    { length: spec.subscribers },
    (_, i) => topicPath(spec.subscribePath, spec.topicPrefix, i % spec.topics),
  );
  const subs = subscriberSet(spec.transport, {
    port: spec.port,
    paths,
    headers: spec.subscribeHeaders,
    bufferBytes: bufferBytes(spec.subscribers),
  });
  if (spec.serverPid !== null) await warmUp(spec);
  const beforeKB = spec.serverPid === null ? 0 : await readRssKB(spec.serverPid);
  const opened = await subs.open(OPEN_CONCURRENCY, Date.now() + spec.openTimeoutMs);
  const slow = await SlowSubscribers.open(
    spec.port,
    topicPath(spec.subscribePath, spec.topicPrefix, 0),
    spec.subscribeHeaders,
    spec.slowSubscribers,
  );
  await sleep(spec.settleMs);
  const afterKB = spec.serverPid === null ? 0 : await readRssKB(spec.serverPid);

  let pub: PublishResult | null = null;
  let cpu: LoadResult["cpu"] = null;
  if (spec.publishers > 0) {
    const before = await cpuSample(spec.serverPid, spec.helperPids);
    const topics = Array.from({ length: spec.topics }, (_, j) => j);
    const fanout = topics.map((j) =>
      opened.openByPath.get(topicPath(spec.subscribePath, spec.topicPrefix, j)) ?? 0
    );
    pub = await publishTo(spec, subs, {
      paths: topics.map((j) => topicPath(spec.publishPath, spec.topicPrefix, j)),
      fanout,
      rate: spec.rate,
      durationMs: spec.durationMs,
      window: Math.max(1, spec.windowEvents * Math.max(...fanout, 1)),
    });
    await drain(subs, pub.expected, spec.drainMs);
    cpu = cpuPercent(before, await cpuSample(spec.serverPid, spec.helperPids));
  }
  const endedEarly = subs.ended;
  slow.close();
  await subs.close();
  const open = { ...opened, slow: slow.count };
  return summarize(spec, open, endedEarly, { beforeKB, afterKB }, pub, subs, cpu);
}

interface CpuSample {
  wallMs: number;
  /** Generator CPU time in µs. */
  generatorUs: number;
  /** Server CPU time in seconds (its helpers' included), NaN when its PID is unknown. */
  serverSeconds: number;
  /** CPU time of the whole machine in seconds. */
  machineSeconds: number;
}

async function cpuSample(serverPid: number | null, helperPids: number[]): Promise<CpuSample> {
  const usage = cpuUsage();
  let serverSeconds = NaN;
  if (serverPid !== null) {
    const seconds = await Promise.all([serverPid, ...helperPids].map((pid) => readCpuSeconds(pid)));
    serverSeconds = seconds.reduce((sum, s) => sum + s, 0);
  }
  return {
    wallMs: performance.now(),
    generatorUs: usage.user + usage.system,
    serverSeconds,
    machineSeconds: await readMachineBusySeconds(),
  };
}

function cpuPercent(a: CpuSample, b: CpuSample): LoadResult["cpu"] {
  const wallMs = b.wallMs - a.wallMs;
  const pct = (seconds: number) => (100 * seconds * 1000) / wallMs;
  const serverSeconds = b.serverSeconds - a.serverSeconds;
  const generatorSeconds = (b.generatorUs - a.generatorUs) / 1e6;
  const machineSeconds = b.machineSeconds - a.machineSeconds;
  return {
    serverPct: pct(serverSeconds),
    generatorPct: pct(generatorSeconds),
    otherPct: Math.max(0, pct(machineSeconds - serverSeconds - generatorSeconds)),
    serverSeconds,
  };
}

function perSecond(count: number, fromMs: number, toMs: number): number {
  return toMs > fromMs ? (count * 1000) / (toMs - fromMs) : 0;
}

function summarize(
  spec: LoadSpec,
  opened: Awaited<ReturnType<Subscribers["open"]>> & { slow: number },
  endedEarly: number,
  rss: { beforeKB: number; afterKB: number },
  pub: PublishResult | null,
  subs: Subscribers,
  cpu: LoadResult["cpu"],
): LoadResult {
  const stats = subs.stats;
  const expected = pub?.expected ?? 0;
  const memory = spec.serverPid === null || opened.opened === 0 ? null : {
    ...rss,
    perSubscriberKB: (rss.afterKB - rss.beforeKB) / opened.opened,
  };
  return {
    subscribers: {
      requested: spec.subscribers,
      opened: opened.opened,
      failed: opened.failed,
      firstError: opened.firstError,
      openMs: opened.ms,
      endedEarly,
      slow: opened.slow,
    },
    memory,
    publish: {
      sent: pub?.sent ?? 0,
      accepted: pub?.accepted ?? 0,
      rejected: pub?.rejected ?? 0,
      firstError: pub?.firstError ?? null,
      perSecond: pub ? perSecond(pub.accepted, pub.firstSendMs, pub.lastAnswerMs) : 0,
    },
    deliveries: {
      expected,
      received: stats.received,
      lost: Math.max(0, expected - stats.received),
      perSecond: pub ? perSecond(stats.received, pub.firstSendMs, stats.lastRecvMs) : 0,
      withinSecondPct: expected > 0 ? (100 * stats.withinSecond) / expected : 0,
      otherLines: stats.other,
    },
    cpu,
    latency: {
      count: stats.latency.count,
      p50: stats.latency.percentile(50),
      p99: stats.latency.percentile(99),
      max: stats.latency.max,
    },
  };
}

if (import.meta.main) {
  const spec = JSON.parse(Deno.args[0] ?? "") as LoadSpec;
  const result = await runLoad(spec);
  await Deno.stdout.write(new TextEncoder().encode(JSON.stringify(result) + "\n"));
}
