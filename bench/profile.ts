/**
 * `deno task bench:profile`: where a publish's (or a delivery's) microseconds go. Starts
 * DenoPubSub pinned to CPU 0 with its inspector on, runs one benchmark scenario's load
 * from CPU 1, samples the server's CPU while it publishes, and prints the server's CPU
 * time per publish and per delivery, then the functions the samples fell in, each as a
 * share of the busy samples and as microseconds per publish.
 *
 * ```sh
 * deno task bench:profile [--scenario g] [--engine deno|node] [--interval 250] [--top 25]
 *   [--server OTHER_CHECKOUT/main.ts] [--save FILE.cpuprofile]
 * ```
 *
 * The profile starts once the generator's warm-up is over, so JIT compilation stays out.
 * Sampling costs some CPU itself: take the microseconds per publish from `deno task bench`
 * and the shares from here.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { errorMessage, log } from "../lib/log.ts";
import { busyUs, type CpuProfile, Inspector, type ProfileLine, summarize } from "./cpu_profile.ts";
import { WARMUP_PUBLISH_MS } from "./load.ts";
import type { LoadResult } from "./load_spec.ts";
import { freePort, readCpuSeconds } from "./proc.ts";
import { runGenerator, specFor } from "./run.ts";
import { selectScenarios } from "./scenarios.ts";
import { oursTarget } from "./targets.ts";

const USAGE = `Usage: deno task bench:profile [options]

  --scenario ID    benchmark scenario to run (a-g or its name; default g, publishing alone)
  --engine NAME    server.engine of DenoPubSub (default deno)
  --interval US    sampling interval in microseconds (default 250)
  --top N          functions listed (default 25)
  --server PATH    DenoPubSub entry module (default: main.ts of this repository)
  --save FILE      also write the raw profile (open it in Chrome DevTools)
`;

/** The generator's warm-up: 20 streams and their publishing, then its settle pauses. */
const WARMUP_MS = WARMUP_PUBLISH_MS + 1300;
const encoder = new TextEncoder();

function print(text: string): void {
  Deno.stdout.writeSync(encoder.encode(text + "\n"));
}

/** Each function's share of the busy samples, and its microseconds per request. */
function table(lines: readonly ProfileLine[], busy: number, requests: number): string {
  const pct = (us: number) => `${(100 * us / busy).toFixed(1)} %`;
  const each = (us: number) => (us / requests).toFixed(2);
  const rows = lines.map((l) =>
    `| ${l.name.replaceAll("|", "\\|")} | ${pct(l.selfUs)} | ${each(l.selfUs)} | ` +
    `${pct(l.totalUs)} | ${each(l.totalUs)} |`
  );
  return [
    "| function | self | self µs | total | total µs |",
    "| --- | ---: | ---: | ---: | ---: |",
    ...rows,
  ].join("\n");
}

/** What the server did while the profile ran. */
interface Window {
  /** Requests the server answered (from its `X-Requests` header). */
  requests: number;
  /** Server CPU time (user + system), in microseconds. */
  cpuUs: number;
  /** The part of it on the main thread: JavaScript, and Deno's event loop and I/O. */
  mainUs: number;
}

/** The server's request count and CPU time now. */
async function mark(port: number, pid: number): Promise<Window> {
  const res = await fetch(`http://127.0.0.1:${port}/`, { method: "HEAD" });
  await res.body?.cancel();
  const requests = Number(res.headers.get("x-requests"));
  const [cpu, main] = await Promise.all([readCpuSeconds(pid), readCpuSeconds(pid, pid)]);
  return { requests, cpuUs: cpu * 1e6, mainUs: main * 1e6 };
}

async function profileRun(
  opts: { scenario: string; engine: string; intervalUs: number; server: string },
): Promise<{ profile: CpuProfile; result: LoadResult; window: Window }> {
  const [scenario] = selectScenarios([opts.scenario]);
  const inspectPort = freePort();
  const target = oursTarget(opts.server, "DenoPubSub", {
    server: { engine: opts.engine },
    denoFlags: [`--inspect=127.0.0.1:${inspectPort}`],
  });
  const server = await target.start(0);
  try {
    const inspector = await Inspector.connect(inspectPort);
    try {
      const load = scenario!.load(false);
      const generating = runGenerator(specFor(load, target, server), 1);
      await new Promise((resolve) => setTimeout(resolve, WARMUP_MS + load.settleMs));
      await inspector.startProfile(opts.intervalUs);
      const before = await mark(server.port, server.pid);
      const result = await generating;
      const after = await mark(server.port, server.pid);
      const profile = await inspector.stopProfile();
      const window = {
        requests: after.requests - before.requests,
        cpuUs: after.cpuUs - before.cpuUs,
        mainUs: after.mainUs - before.mainUs,
      };
      return { profile, result, window };
    } finally {
      await inspector.close();
    }
  } finally {
    await server.stop();
  }
}

async function main(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      scenario: { type: "string", default: "g" },
      engine: { type: "string", default: "deno" },
      interval: { type: "string", default: "250" },
      top: { type: "string", default: "25" },
      server: { type: "string", default: new URL("../main.ts", import.meta.url).pathname },
      save: { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    print(USAGE);
    return 0;
  }
  const intervalUs = Number(values.interval);
  const top = Number(values.top);
  const { profile, result, window } = await profileRun({ ...values, intervalUs });
  if (values.save) await Deno.writeTextFile(values.save, JSON.stringify(profile));
  const root = `file://${values.server.slice(0, values.server.lastIndexOf("/") + 1)}`;
  const lines = summarize(profile, root, intervalUs);
  const busy = busyUs(lines);
  const cpu = result.cpu;
  print(
    `Scenario ${values.scenario}, engine ${values.engine}: ` +
      `${Math.round(result.publish.perSecond)} publishes/s, ` +
      `${Math.round(result.deliveries.perSecond)} deliveries/s; CPU % server / generator / ` +
      `other ${
        [cpu?.serverPct, cpu?.generatorPct, cpu?.otherPct].map((v) => (v ?? NaN).toFixed(0))
          .join(" / ")
      }.`,
  );
  const each = (us: number) => (us / window.requests).toFixed(1);
  print(
    `While sampling (every ${intervalUs} µs), the server answered ${window.requests} requests ` +
      `with ${(window.cpuUs / 1e6).toFixed(2)} s of CPU: ${each(window.cpuUs)} µs each, ` +
      `${each(window.mainUs)} µs on the main thread (JavaScript, Deno's event loop and its ` +
      `system calls) and the rest on other threads (V8's compilers and garbage collector, ` +
      `and the profiler's own sampling); ${each(busy)} µs in samples of JavaScript.\n`,
  );
  print("Busiest functions by self time (µs per request):\n");
  print(table(lines.slice(0, top), busy, window.requests));
  print("\nDenoPubSub's own functions by total time (µs per request):\n");
  const ours = lines.filter((l) => l.name.includes("(lib/")).sort((a, b) => b.totalUs - a.totalUs);
  print(table(ours.slice(0, top), busy, window.requests));
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
