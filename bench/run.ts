/**
 * `deno task bench`: runs the scenarios against the generator ceiling, DenoPubSub and
 * (with `--vs nchan`) nginx + nchan, each server pinned to CPU 0 and each load-generator
 * process to CPU 1, and prints the Markdown table of medians, ratios and targets.
 *
 * @module
 */

import { errorMessage, log } from "../lib/log.ts";
import type { LoadResult, LoadSpec } from "./load_spec.ts";
import { describeMachine, gitCommit, loadAverage } from "./machine.ts";
import { NCHAN_MODULE } from "./nchan.ts";
import { type BenchOptions, parseOptions, USAGE } from "./options.ts";
import { openFileLimit, spawnPinned } from "./proc.ts";
import { type Column, detailTable, Results, runNotes, summaryTable } from "./report.ts";
import { type ScenarioLoad, selectScenarios } from "./scenarios.ts";
import {
  ceilingTarget,
  nchanTarget,
  oursTarget,
  type RunningServer,
  RUNTIME_LABELS,
  runtimeTarget,
  type Target,
} from "./targets.ts";

const LOAD_SCRIPT = new URL("./load.ts", import.meta.url).pathname;
/** File descriptors a process needs besides its sockets (runtime, logs, listener). */
const FD_RESERVE = 64;
const encoder = new TextEncoder();

function print(text: string): void {
  Deno.stdout.writeSync(encoder.encode(text + "\n"));
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

interface Planned {
  target: Target;
  column: Column;
}

async function planTargets(opts: BenchOptions, maxFiles: number): Promise<Planned[]> {
  const planned: Planned[] = [];
  if (opts.ceiling) {
    planned.push({
      target: ceilingTarget(),
      column: { key: "ceiling", label: "generator ceiling", kind: "ceiling" },
    });
  }
  if (opts.runtime) {
    for (const engine of new Set(opts.engines.length ? opts.engines : ["deno"])) {
      if (!(engine in RUNTIME_LABELS)) continue;
      const target = runtimeTarget(engine);
      planned.push({
        target,
        column: { key: `runtime:${engine}`, label: target.label, kind: "runtime", engine },
      });
      if (!opts.floor) continue;
      const floor = runtimeTarget(engine, true);
      planned.push({
        target: floor,
        column: { key: `floor:${engine}`, label: floor.label, kind: "floor", engine },
      });
    }
  }
  const servers = [{ entry: opts.server, name: null as string | null }];
  if (opts.baseline) servers.push({ entry: opts.baseline, name: "baseline" });
  for (const { entry, name } of servers) {
    if (!(await exists(entry))) {
      log.warn("DenoPubSub not found; its column is skipped", { server: entry });
      continue;
    }
    for (const engine of opts.engines.length ? opts.engines : [null]) {
      for (const mode of ourModes(opts)) {
        for (const transport of opts.transports.length ? opts.transports : [null]) {
          for (const v8 of opts.v8.length ? opts.v8 : [null]) {
            const variant = [name, engine, mode, transport, v8 === null ? null : `v8 ${v8}`]
              .filter(Boolean).join(", ");
            const label = variant ? `DenoPubSub (${variant})` : "DenoPubSub";
            const server: Record<string, string> = engine ? { engine } : {};
            const v8Flags = v8 === null ? undefined : v8 === "none" ? "" : `--v8-flags=${v8}`;
            const target = oursTarget(entry, label, {
              server,
              storage: mode === "storage",
              cluster: mode === "cluster",
              transport: transport ?? "ndjson",
              v8Flags,
            });
            planned.push({
              target,
              column: {
                key: variant ? `ours:${variant}` : "ours",
                label,
                kind: "ours",
                engine: engine ?? "deno",
              },
            });
          }
        }
      }
    }
  }
  if (opts.nchan) {
    if (await exists(NCHAN_MODULE)) {
      planned.push({
        target: nchanTarget(maxFiles),
        column: { key: "nchan", label: "nginx + nchan", kind: "nchan" },
      });
    } else {
      log.warn("nchan not installed; apt-get install nginx libnginx-mod-nchan", {
        module: NCHAN_MODULE,
      });
    }
  }
  return planned;
}

/** How DenoPubSub keeps and carries events in each of its columns; null: the defaults. */
function ourModes(opts: BenchOptions): (null | "storage" | "cluster")[] {
  const modes: (null | "storage" | "cluster")[] = [null];
  if (opts.storage) modes.push("storage");
  if (opts.cluster) modes.push("cluster");
  return modes;
}

/** The generator's instructions for one run of `load` against a started `target`. */
export function specFor(
  load: ScenarioLoad,
  target: Target,
  server: RunningServer,
): LoadSpec {
  return {
    ...load,
    port: server.port,
    transport: target.transport ?? "ndjson",
    serverPid: server.pid,
    helperPids: server.helperPids,
    topicPrefix: `b${Date.now().toString(36)}t`,
    subscribePath: target.subscribePath,
    publishPath: target.publishPath,
    subscribeHeaders: target.subscribeHeaders,
    bodySuffix: target.bodySuffix,
  };
}

/** Runs the generator in its own pinned process; a run that overstays is stopped. */
export async function runGenerator(spec: LoadSpec, cpu: number | null): Promise<LoadResult> {
  const budgetMs = spec.openTimeoutMs + 2 * spec.settleMs + spec.durationMs + spec.drainMs +
    60_000;
  const cmd = [Deno.execPath(), "run", "--allow-net=127.0.0.1", "--allow-run=cat", LOAD_SCRIPT];
  const proc = spawnPinned([...cmd, JSON.stringify(spec)], { cpu, logFile: null });
  const timer = setTimeout(() => proc.stop(1000), budgetMs);
  try {
    const [out, status] = await Promise.all([
      new Response(proc.child.stdout).text(),
      proc.child.status,
    ]);
    if (!status.success) throw new Error(`load generator exited with ${status.code}`);
    return JSON.parse(out.trim().split("\n").at(-1) ?? "") as LoadResult;
  } finally {
    clearTimeout(timer);
  }
}

async function runOnce(
  load: ScenarioLoad,
  target: Target,
  cpus: { server: number | null; load: number | null },
): Promise<LoadResult> {
  const server = await target.start(cpus.server);
  try {
    return await runGenerator(specFor(load, target, server), cpus.load);
  } finally {
    await server.stop();
  }
}

/** Other processes taking more than this share of a core make a run worth repeating. */
const BUSY_PCT = 50;

/**
 * Runs once, and again up to `retries` times while other processes took more than half a
 * core during the run; keeps the least disturbed result.
 */
async function runQuietest(
  load: ScenarioLoad,
  target: Target,
  cpus: { server: number | null; load: number | null },
  retries: number,
  at: Record<string, string | number>,
): Promise<LoadResult> {
  let best = await runOnce(load, target, cpus);
  const other = (r: LoadResult) => r.cpu?.otherPct ?? 0;
  for (let i = 0; i < retries && other(best) > BUSY_PCT; i++) {
    log.info("machine busy, running again", { ...at, otherCpu: Math.round(other(best)) });
    const again = await runOnce(load, target, cpus);
    if (other(again) < other(best)) best = again;
  }
  return best;
}

function progressFields(result: LoadResult): Record<string, string | number> {
  const r = (v: number) => Math.round(v);
  return {
    open: result.subscribers.opened,
    pubPerS: r(result.publish.perSecond),
    delivPerS: r(result.deliveries.perSecond),
    lost: result.deliveries.lost,
    p50: Number(result.latency.p50?.toFixed(2)),
    p99: Number(result.latency.p99?.toFixed(2)),
    kbPerSub: Number(result.memory?.perSubscriberKB.toFixed(2) ?? NaN),
    serverCpu: r(result.cpu?.serverPct ?? NaN),
    loadCpu: r(result.cpu?.generatorPct ?? NaN),
    otherCpu: r(result.cpu?.otherPct ?? NaN),
  };
}

async function main(args: string[]): Promise<number> {
  const opts = parseOptions(args);
  if (opts.help) {
    print(USAGE);
    return 0;
  }
  const scenarios = selectScenarios(opts.scenarios);
  const pinned = navigator.hardwareConcurrency >= 2;
  if (!pinned) log.warn("fewer than 2 CPUs: server and generator are not pinned");
  const cpus = { server: pinned ? 0 : null, load: pinned ? 1 : null };
  const maxFiles = Math.min(await openFileLimit(), 1 << 20);
  const planned = await planTargets(opts, maxFiles);
  const machine = await describeMachine();
  log.info("benchmark", { machine, repeat: opts.repeat, quick: opts.quick });

  const results = new Results();
  for (const scenario of scenarios) {
    const load = scenario.load(opts.quick);
    if (!opts.slow) load.slowSubscribers = 0;
    if (load.subscribers > maxFiles - FD_RESERVE) {
      log.warn("open-file limit caps the subscribers", { scenario: scenario.id, maxFiles });
      load.subscribers = maxFiles - FD_RESERVE;
    }
    for (let rep = 1; rep <= opts.repeat; rep++) {
      for (const { target, column } of planned) {
        if (target.publishOnly && load.subscribers > 0) continue;
        const at = { scenario: scenario.id, server: column.label, run: rep };
        try {
          const result = await runQuietest(load, target, cpus, opts.retryBusy, at);
          results.add(scenario.id, column.key, result);
          log.info("run", { ...at, ...progressFields(result) });
        } catch (err) {
          results.add(scenario.id, column.key, errorMessage(err));
          log.error("run failed", { ...at, error: errorMessage(err) });
        }
      }
    }
  }

  const columns = planned.map((p) => p.column);
  const commit = await gitCommit(opts.server);
  print(`\nMachine: ${machine}; load average at the end ${loadAverage().toFixed(2)}`);
  if (commit) print(`DenoPubSub: ${opts.server} at commit ${commit}`);
  if (opts.baseline) {
    const at = await gitCommit(opts.baseline);
    print(`Baseline: ${opts.baseline}${at ? ` at commit ${at}` : ""}`);
  }
  print(
    `Server on CPU ${cpus.server ?? "any"}, load generator on CPU ${cpus.load ?? "any"}; ` +
      `medians of ${opts.repeat} run${opts.repeat > 1 ? "s" : ""}${opts.quick ? " (quick)" : ""}.`,
  );
  print(
    opts.slow
      ? "(a)-(d) and (f) also hold one stalled subscriber on the first topic that never reads.\n"
      : "No stalled subscriber (--no-slow).\n",
  );
  print(summaryTable(results, scenarios, columns));
  const notes = runNotes(results, scenarios, columns, opts.quick);
  if (notes.length > 0) print(`\nNotes:\n\n${notes.join("\n")}`);
  print("\nDetails (medians):\n");
  print(detailTable(results, scenarios, columns));
  if (opts.json) {
    await Deno.writeTextFile(opts.json, JSON.stringify({ machine, opts, results }, null, 2));
  }
  return 0;
}

if (import.meta.main) {
  try {
    Deno.exit(await main(Deno.args));
  } catch (err) {
    log.error(errorMessage(err));
    Deno.exit(2);
  }
}
