/**
 * Stress run for issue 16: against DenoPubSub on its default configuration, thousands of
 * connections send half a request head, hundreds send a publish head and a few bytes of
 * its body, and a thousand subscribe with enormous comma lists, while one real subscriber
 * and one real publisher go on. Every second it records the connections the server holds,
 * its resident memory, and the publishes' latency; it prints a Markdown table.
 *
 * ```sh
 * deno task bench:stress [--engine deno|node] [--server PATH] [--duration 90] [--json FILE]
 * ```
 *
 * Loopback only; bounded by its counts and `--duration`; it stops the server it started.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { freePort, readProcFile, readRssKB, spawnPinned, waitForPort } from "./proc.ts";
import { type HeldConnection, holdMany, RealTraffic, type Sample } from "./stress_clients.ts";

const USAGE = `Usage: deno task bench:stress [options]

  --engine NAME      server.engine (deno or node; default deno)
  --server PATH      DenoPubSub entry module (default: main.ts of this repository)
  --duration S       seconds to run (default 90)
  --slow-heads N     connections sending half a head (default 3000)
  --slow-bodies N    publishes sending a 100,000-byte head and a few bytes (default 500)
  --big-subs N       subscriptions with --sets comma-separated topic sets (default 1000)
  --sets N           topic sets per big subscription (default 2000: an 11 KB URL)
  --json FILE        write the samples and the summary to FILE
`;

interface Options {
  engine: string;
  server: string;
  durationS: number;
  slowHeads: number;
  slowBodies: number;
  bigSubs: number;
  sets: number;
  json: string | null;
}

function options(args: string[]): Options {
  const { values } = parseArgs({
    args,
    options: {
      engine: { type: "string", default: "deno" },
      server: { type: "string", default: new URL("../main.ts", import.meta.url).pathname },
      duration: { type: "string", default: "90" },
      "slow-heads": { type: "string", default: "3000" },
      "slow-bodies": { type: "string", default: "500" },
      "big-subs": { type: "string", default: "1000" },
      sets: { type: "string", default: "2000" },
      json: { type: "string" },
      help: { type: "boolean", default: false },
    },
  });
  if (values.help) {
    print(USAGE);
    Deno.exit(0);
  }
  const count = (name: keyof typeof values) => {
    const n = Number(values[name]);
    if (!Number.isInteger(n) || n < 0 || n > 100_000) throw new Error(`--${name}: not a count`);
    return n;
  };
  return {
    engine: values.engine,
    server: values.server,
    durationS: Math.min(600, count("duration")),
    slowHeads: count("slow-heads"),
    slowBodies: count("slow-bodies"),
    bigSubs: count("big-subs"),
    sets: count("sets"),
    json: values.json ?? null,
  };
}

/** The permission and V8 flags of the `start` task in `dir/deno.json`. */
async function startTaskFlags(dir: string): Promise<string[]> {
  const tasks = JSON.parse(await Deno.readTextFile(`${dir}/deno.json`)).tasks;
  return String(tasks.start).split(/\s+/).filter((arg) => arg.startsWith("--"));
}

/** Starts the server on its defaults (loopback, loopback publishers), pinned to CPU 0. */
async function startServer(opts: Options, port: number) {
  const dir = await Deno.makeTempDir({ prefix: "bench-stress-" });
  const cwd = opts.server.slice(0, opts.server.lastIndexOf("/"));
  await Deno.writeTextFile(
    `${dir}/pubsub.yaml`,
    `server:\n  port: ${port}\n  bind: 127.0.0.1\n  engine: ${opts.engine}\n` +
      `clients:\n  payloaders:\n    - 127.0.0.1/32\n`,
  );
  await Deno.writeTextFile(`${dir}/pubsub_acl.yaml`, "{}\n");
  const flags = await startTaskFlags(cwd);
  const cmd = [Deno.execPath(), "run", ...flags, opts.server, "--config", `${dir}/pubsub.yaml`];
  cmd.push("--acl", `${dir}/pubsub_acl.yaml`, "--log-level", "warn");
  const proc = spawnPinned(cmd, { cpu: 0, logFile: `${dir}/server.log`, cwd });
  await waitForPort(port, 20_000, proc.child.status);
  return { proc, dir };
}

/** Established TCP connections whose local port is `port` (the server's side). */
async function serverConnections(port: number): Promise<number> {
  const hex = port.toString(16).toUpperCase().padStart(4, "0");
  const lines = (await readProcFile("/proc/net/tcp")).split("\n");
  return lines.filter((line) => {
    const fields = line.trim().split(/\s+/);
    return fields[1]?.endsWith(`:${hex}`) && fields[3] === "01";
  }).length;
}

/** What the server and the held connections looked like at the end of second `t`. */
interface Row {
  t: number;
  connections: number;
  rssMB: number;
  slowHeadsOpen: number;
  slowBodiesOpen: number;
  bigSubsOpen: number;
}

/** The attacking connections, by kind. */
interface Held {
  heads: HeldConnection[];
  bodies: HeldConnection[];
  bigSubs: HeldConnection[];
}

function percentile(values: number[], p: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

const open = (held: HeldConnection[]) => held.filter((c) => c.closedAt === null).length;

/** Status lines the connections got, with counts. */
function statuses(held: HeldConnection[]): string {
  const counts = new Map<string, number>();
  for (const c of held) {
    counts.set(c.status || "(none)", (counts.get(c.status || "(none)") ?? 0) + 1);
  }
  return [...counts].map(([status, n]) => `${n} × ${status}`).join(", ");
}

/** Opens the half heads, the half bodies and the big subscriptions, in that order. */
async function attack(port: number, opts: Options, held: Held, until: number): Promise<void> {
  const head = "GET /stress/slow HTTP/1.1\r\nHost: stress\r\n";
  held.heads.push(...await holdMany(port, head, opts.slowHeads, until));
  const body = 'PUT /stress/slow HTTP/1.1\r\nHost: stress\r\nContent-Length: 100000\r\n\r\n{"a":';
  held.bodies.push(...await holdMany(port, body, opts.slowBodies, until));
  const path = "/" + Array.from({ length: opts.sets }, (_, i) => `t${i}`).join(",");
  const subscribe = `GET ${path} HTTP/1.1\r\nHost: stress\r\n\r\n`;
  held.bigSubs.push(...await holdMany(port, subscribe, opts.bigSubs, until, 50));
}

/** Records a {@link Row} at the end of every second from `start` to `end`. */
async function sampleEverySecond(
  port: number,
  pid: number,
  held: Held,
  start: number,
  end: number,
): Promise<Row[]> {
  const rows: Row[] = [];
  for (let t = 1; start + t * 1000 <= end; t++) {
    const wait = start + t * 1000 - performance.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    rows.push({
      t,
      connections: await serverConnections(port),
      rssMB: Math.round(await readRssKB(pid) / 1024),
      slowHeadsOpen: open(held.heads),
      slowBodiesOpen: open(held.bodies),
      bigSubsOpen: open(held.bigSubs),
    });
  }
  return rows;
}

async function run(opts: Options): Promise<void> {
  const port = freePort();
  const { proc, dir } = await startServer(opts, port);
  const start = performance.now();
  const end = start + opts.durationS * 1000;
  const held: Held = { heads: [], bodies: [], bigSubs: [] };
  const traffic = await RealTraffic.start(port);
  let rows: Row[] = [];
  try {
    traffic.publish(100, end);
    const sampling = sampleEverySecond(port, proc.pid, held, start, end);
    await new Promise((resolve) => setTimeout(resolve, 2000));
    await attack(port, opts, held, start + Math.min(opts.durationS, 12) * 1000);
    rows = await sampling;
  } finally {
    await traffic.stop();
    await Promise.all(Object.values(held).flat().map((c: HeldConnection) => c.close()));
    await proc.stop();
  }
  print(report(opts, rows, traffic.samples, held, start));
  if (opts.json) {
    const json = { opts, start, rows, samples: traffic.samples };
    await Deno.writeTextFile(opts.json, JSON.stringify(json));
  }
  await Deno.remove(dir, { recursive: true });
}

const ms = (v: number | null) => v === null ? "–" : v.toFixed(1);

/** `PUT` and delivery times of the publishes started in [from, to); known once all ended. */
function latencies(samples: Sample[], from: number, to: number) {
  const window = samples.filter((s) => s.at >= from && s.at < to);
  return {
    puts: window.flatMap((s) => s.putMs === null ? [] : [s.putMs]),
    delivered: window.flatMap((s) => s.deliveredMs === null ? [] : [s.deliveredMs]),
  };
}

function report(opts: Options, rows: Row[], samples: Sample[], held: Held, start: number): string {
  const out = [
    `engine ${opts.engine}, server ${opts.server}, ${opts.durationS} s: ` +
    `${held.heads.length} half heads, ${held.bodies.length} half bodies, ` +
    `${held.bigSubs.length} subscriptions of ${opts.sets} sets`,
    "",
    "| t (s) | server connections | RSS (MB) | PUT p50 / max (ms) | delivery p50 (ms) | half heads open | half bodies open | big subs open |",
    "| ----: | -----------------: | -------: | -----------------: | ----------------: | --------------: | ---------------: | ------------: |",
  ];
  for (const r of rows.filter((r) => r.t % 5 === 0 || r === rows.at(-1))) {
    const { puts, delivered } = latencies(samples, start + (r.t - 1) * 1000, start + r.t * 1000);
    const put = `${ms(percentile(puts, 0.5))} / ${ms(percentile(puts, 1))}`;
    const open = `${r.slowHeadsOpen} | ${r.slowBodiesOpen} | ${r.bigSubsOpen}`;
    const delivery = ms(percentile(delivered, 0.5));
    out.push(`| ${r.t} | ${r.connections} | ${r.rssMB} | ${put} | ${delivery} | ${open} |`);
  }
  const { puts, delivered } = latencies(samples, start, Infinity);
  const lost = samples.filter((s) => s.putMs !== null && s.deliveredMs === null).length;
  const closedAfter = (c: HeldConnection[]) => {
    const times = c.flatMap((x) => x.closedAt === null ? [] : [(x.closedAt - start) / 1000]);
    if (times.length === 0) return "none closed";
    return `${times.length} closed, last at ${Math.max(...times).toFixed(1)} s`;
  };
  const put = [0.5, 0.99, 1].map((p) => ms(percentile(puts, p))).join(" / ");
  out.push(
    "",
    `publishes: ${samples.length} sent, ${puts.length} accepted, ${lost} accepted but not ` +
      `delivered; PUT p50 / p99 / max ${put} ms; delivery max ${ms(percentile(delivered, 1))} ms`,
    `peak RSS ${Math.max(...rows.map((r) => r.rssMB))} MB; half heads: ` +
      `${closedAfter(held.heads)}; half bodies: ${closedAfter(held.bodies)} ` +
      `(${statuses(held.bodies)})`,
    `big subscriptions: ${statuses(held.bigSubs)}; ${closedAfter(held.bigSubs)}`,
  );
  return out.join("\n");
}

function print(text: string): void {
  Deno.stdout.writeSync(new TextEncoder().encode(text + "\n"));
}

if (import.meta.main) await run(options(Deno.args));
