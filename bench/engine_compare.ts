/**
 * Compares the HTTP engines (`server.engine: deno | node`) on three figures: resident
 * memory per idle subscriber, publishes/s (64 B bodies, 32 keep-alive connections, no
 * subscribers) and fan-out deliveries/s (1,000 subscribers, 1 KB events). Each figure is
 * the median of `--runs` runs, each against a fresh `main.ts` pinned to core 0; run this
 * generator on core 1. `--ceiling` adds the generator's own limit against a trivial
 * `node:http` server that answers 202 at once.
 *
 * ```sh
 * taskset -c 1 deno run --allow-run --allow-read --allow-write --allow-env --allow-net=127.0.0.1 \
 *   bench/engine_compare.ts [--runs 3] [--idle 9900] [--engines deno,node] [--ceiling] \
 *   [--phases idle,publish,fanout] \
 *   [--main OTHER_CHECKOUT/main.ts]
 * ```
 *
 * Every phase is bounded in count and time.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { startV8Flags } from "./targets.ts";

let MAIN = new URL("../main.ts", import.meta.url).pathname;
const TRIVIAL = new URL("./engine_trivial.ts", import.meta.url).pathname;
const encoder = new TextEncoder();
/** Load before counting: the node engine's JIT needs a few seconds to settle. */
const WARMUP_MS = 3000;
/** `getconf CLK_TCK` on Linux. */
const CLOCK_TICKS = 100;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function out(line: string): void {
  Deno.stdout.writeSync(encoder.encode(line + "\n"));
}

/** A server child process pinned to core 0. */
class ServerProcess {
  readonly port: number;
  readonly pid: number;
  readonly #child: Deno.ChildProcess;
  readonly #dir: string;

  private constructor(child: Deno.ChildProcess, port: number, dir: string) {
    this.#child = child;
    this.pid = child.pid;
    this.port = port;
    this.#dir = dir;
  }

  /** Starts `main.ts` with the engine, or the trivial server when `engine` is "trivial". */
  static async start(engine: string): Promise<ServerProcess> {
    const dir = await Deno.makeTempDir({ prefix: "engine-bench-" });
    const config = `${dir}/pubsub.yaml`;
    await Deno.writeTextFile(
      config,
      `server: {port: 0, bind: 127.0.0.1, engine: ${engine}, keepalive: 600}\n` +
        `clients: {payloaders: [127.0.0.1/32]}\n`,
    );
    const script = engine === "trivial"
      ? [TRIVIAL]
      : [MAIN, "--config", config, "--acl", `${dir}/none.yaml`];
    const v8 = engine === "trivial" ? [] : await startV8Flags(MAIN.slice(0, MAIN.lastIndexOf("/")));
    const child = new Deno.Command("taskset", {
      args: [
        "-c",
        "0",
        Deno.execPath(),
        "run",
        ...v8,
        "--allow-net",
        "--allow-read",
        "--allow-env",
        ...script,
      ],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const port = await listeningPort(child.stderr);
    return new ServerProcess(child, port, dir);
  }

  /** Resident memory now, in KiB (`ps`: Deno reads /proc only with --allow-all). */
  async rssKiB(): Promise<number> {
    const ps = new Deno.Command("ps", { args: ["-o", "rss=", "-p", String(this.pid)] });
    return Number(new TextDecoder().decode((await ps.output()).stdout).trim());
  }

  /** CPU time used so far (user + system), in seconds; the server's cost, whatever the load. */
  async cpuSeconds(): Promise<number> {
    const cat = new Deno.Command("cat", { args: [`/proc/${this.pid}/stat`] });
    const stat = new TextDecoder().decode((await cat.output()).stdout);
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  }

  async stop(): Promise<void> {
    this.#child.kill("SIGTERM");
    await this.#child.status;
    await Deno.remove(this.#dir, { recursive: true });
  }
}

/** Reads log lines until the listening line, then keeps draining in the background. */
async function listeningPort(stderr: ReadableStream<Uint8Array>): Promise<number> {
  const reader = stderr.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    const { value, done } = await reader.read();
    if (done) break;
    text += value;
    const m = /listening for HTTP .*port=(\d+)/.exec(text);
    if (m) {
      (async () => {
        while (!(await reader.read()).done) { /* drain */ }
      })();
      return Number(m[1]);
    }
  }
  throw new Error(`server did not start:\n${text}`);
}

/** A raw HTTP/1.1 connection that sends one request at a time and awaits the answer. */
class RawClient {
  readonly #conn: Deno.TcpConn;
  readonly #buf = new Uint8Array(16384);

  private constructor(conn: Deno.TcpConn) {
    this.#conn = conn;
  }

  static async connect(port: number): Promise<RawClient> {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    conn.setNoDelay(true);
    return new RawClient(conn);
  }

  /** Sends `request` and reads the whole answer; returns its status. */
  async request(request: Uint8Array): Promise<number> {
    await this.#conn.write(request);
    let have = 0;
    let need = -1;
    while (need < 0 || have < need) {
      const n = await this.#conn.read(this.#buf.subarray(have));
      if (n === null) throw new Error("connection closed");
      have += n;
      if (need < 0) need = responseLength(this.#buf.subarray(0, have));
    }
    return (this.#buf[9]! - 48) * 100 + (this.#buf[10]! - 48) * 10 + (this.#buf[11]! - 48);
  }

  close(): void {
    this.#conn.close();
  }
}

/** The length of the response starting `bytes`, or -1 while its head is incomplete. */
function responseLength(bytes: Uint8Array): number {
  let end = bytes.indexOf(13);
  while (end >= 0 && !(bytes[end + 1] === 10 && bytes[end + 2] === 13 && bytes[end + 3] === 10)) {
    end = bytes.indexOf(13, end + 1);
  }
  if (end < 0) return -1;
  const head = new TextDecoder().decode(bytes.subarray(0, end));
  return end + 4 + Number(/content-length:\s*(\d+)/i.exec(head)?.[1] ?? 0);
}

function putRequest(path: string, body: string): Uint8Array {
  const bytes = encoder.encode(body);
  return encoder.encode(
    `PUT ${path} HTTP/1.1\r\nHost: bench\r\nContent-Length: ${bytes.byteLength}\r\n\r\n${body}`,
  );
}

/** A JSON object body of exactly `size` bytes. */
function bodyOf(size: number): string {
  const frame = '{"pad":""}';
  return `{"pad":"${"x".repeat(size - frame.length)}"}`;
}

/** Idle subscribers over raw sockets, counting the lines they receive. */
class Subscribers {
  lines = 0;
  closed = 0;
  readonly #conns: Deno.TcpConn[] = [];
  #onLines: (() => void) | null = null;

  /** Opens `count` streams on `path`, 200 at a time; resolves once each got its head. */
  async open(port: number, path: string, count: number, bufferBytes: number): Promise<void> {
    const request = encoder.encode(`GET ${path} HTTP/1.1\r\nHost: bench\r\n\r\n`);
    for (let i = 0; i < count; i += 200) {
      const batch = Array.from({ length: Math.min(200, count - i) }, async () => {
        const conn = await Deno.connect({ hostname: "127.0.0.1", port });
        await conn.write(request);
        const buf = new Uint8Array(bufferBytes);
        const n = await conn.read(buf);
        if (n === null) throw new Error("subscriber refused");
        this.#conns.push(conn);
        this.#read(conn, buf);
      });
      await Promise.all(batch);
    }
  }

  /** Resolves on the next read that brought lines, or after `ms`. */
  progress(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.#onLines = () => {
        clearTimeout(timer);
        this.#onLines = null;
        resolve();
      };
    });
  }

  async #read(conn: Deno.TcpConn, buf: Uint8Array): Promise<void> {
    try {
      while (true) {
        const n = await conn.read(buf);
        if (n === null) break;
        const got = buf.subarray(0, n);
        let count = 0;
        for (let at = got.indexOf(10); at >= 0; at = got.indexOf(10, at + 1)) count++;
        this.lines += count;
        if (count > 0) this.#onLines?.();
      }
    } catch {
      // Closed by close() below, or reset by the server.
    }
    this.closed++;
  }

  close(): void {
    for (const conn of this.#conns) conn.close();
  }
}

/**
 * Resident memory per idle subscriber, twice: over the first `count` subscribers (this
 * includes one-time growth, mostly V8's young generation) and over the next `count`
 * (the marginal cost of one more).
 */
async function idleRun(engine: string, count: number): Promise<number[]> {
  const server = await ServerProcess.start(engine);
  try {
    const warm = new Subscribers();
    await warm.open(server.port, "/idle", 200, 512);
    warm.close();
    await sleep(1500);
    const before = await server.rssKiB();
    const subs = new Subscribers();
    await subs.open(server.port, "/idle", count, 512);
    await sleep(2000);
    const middle = await server.rssKiB();
    await subs.open(server.port, "/idle", count, 512);
    await sleep(2000);
    const after = await server.rssKiB();
    subs.close();
    return [(middle - before) / count, (after - middle) / count];
  } finally {
    await server.stop();
  }
}

/** Accepted publishes/s, and the server's CPU microseconds per publish. */
async function publishRun(engine: string, seconds: number): Promise<number[]> {
  const server = await ServerProcess.start(engine);
  try {
    const request = putRequest("/bench/publish", bodyOf(64));
    const clients = await Promise.all(
      Array.from({ length: 32 }, () => RawClient.connect(server.port)),
    );
    let accepted = 0;
    let counting = false;
    let cpuStart = 0;
    const warmUntil = Date.now() + WARMUP_MS;
    const end = warmUntil + seconds * 1000;
    const startCounting = async () => {
      counting = true;
      cpuStart = await server.cpuSeconds();
    };
    await Promise.all(clients.map(async (client) => {
      while (Date.now() < end) {
        const status = await client.request(request);
        if (status !== 202) throw new Error(`publish answered ${status}`);
        if (counting) accepted++;
        else if (Date.now() >= warmUntil) await startCounting();
      }
    }));
    const cpu = await server.cpuSeconds() - cpuStart;
    clients.forEach((c) => c.close());
    return [accepted / seconds, cpu * 1e6 / accepted];
  } finally {
    await server.stop();
  }
}

/**
 * 1,000 subscribers; 4 publishers as fast as accepted, but never more than `WINDOW`
 * events ahead of the slowest reading, so nobody is evicted for the generator's sake.
 * Returns deliveries/s, and the server's CPU microseconds per 1,000 deliveries.
 */
async function fanoutRun(engine: string, seconds: number): Promise<number[]> {
  const SUBSCRIBERS = 1000;
  const WINDOW = 64;
  const server = await ServerProcess.start(engine);
  try {
    const subs = new Subscribers();
    await subs.open(server.port, "/fan", SUBSCRIBERS, 65536);
    await sleep(500);
    const base = subs.lines; // the first keepalive of each
    const request = putRequest("/fan/out", bodyOf(1024));
    const clients = await Promise.all(
      Array.from({ length: 4 }, () => RawClient.connect(server.port)),
    );
    let published = 0;
    let start = 0;
    let startLines = 0;
    let cpuStart = 0;
    const warmUntil = Date.now() + WARMUP_MS;
    const end = warmUntil + seconds * 1000;
    const delivered = () => subs.lines - base;
    await Promise.all(clients.map(async (client) => {
      while (Date.now() < end && subs.closed === 0) {
        while ((published - WINDOW) * SUBSCRIBERS > delivered() && Date.now() < end) {
          await subs.progress(50);
        }
        published++;
        if (await client.request(request) !== 202) throw new Error("publish refused");
        if (start === 0 && Date.now() >= warmUntil) {
          start = Date.now();
          startLines = delivered();
          cpuStart = await server.cpuSeconds();
        }
      }
    }));
    const elapsed = (Date.now() - start) / 1000;
    const count = delivered() - startLines;
    const cpu = await server.cpuSeconds() - cpuStart;
    if (subs.closed > 0) throw new Error(`${subs.closed} subscribers were disconnected`);
    clients.forEach((c) => c.close());
    subs.close();
    return [count / elapsed, cpu * 1e9 / count];
  } finally {
    await server.stop();
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/** Runs `run` `runs` times; formats the median of each figure it returns, then all runs. */
async function measure(runs: number, run: () => Promise<number | number[]>): Promise<string[]> {
  const values: number[][] = [];
  for (let i = 0; i < runs; i++) {
    const result = await run();
    values.push(typeof result === "number" ? [result] : result);
  }
  const fmt = (v: number) => v >= 1000 ? `${(v / 1000).toFixed(1)}k` : v.toFixed(1);
  return values[0]!.map((_, k) => {
    const column = values.map((row) => row[k]!);
    return `${fmt(median(column))} (${column.map(fmt).join(", ")})`;
  });
}

const args = parseArgs({
  args: Deno.args,
  options: {
    runs: { type: "string", default: "3" },
    idle: { type: "string", default: "9900" },
    seconds: { type: "string", default: "5" },
    engines: { type: "string", default: "deno,node" },
    phases: { type: "string", default: "idle,publish,fanout" },
    ceiling: { type: "boolean", default: false },
    main: { type: "string" },
  },
});
if (args.values.main) MAIN = args.values.main;
const runs = Number(args.values.runs);
const idle = Math.min(Number(args.values.idle), 9900);
const seconds = Math.min(Number(args.values.seconds), 30);
out(
  `median of ${runs} (then each run); load phases: ${seconds} s after ${
    WARMUP_MS / 1000
  } s of warm-up`,
);
if (args.values.ceiling) {
  const [rate, cpu] = await measure(runs, () => publishRun("trivial", seconds));
  out(`generator ceiling (trivial node:http 202): publishes/s ${rate}; server CPU µs each ${cpu}`);
}
const phases = args.values.phases.split(",");
for (const engine of args.values.engines.split(",")) {
  if (phases.includes("idle")) {
    const [first, next] = await measure(runs, () => idleRun(engine, idle));
    out(`${engine}: RSS KiB per idle subscriber, first ${idle}: ${first}; next ${idle}: ${next}`);
  }
  if (phases.includes("publish")) {
    const [rate, cpu] = await measure(runs, () => publishRun(engine, seconds));
    out(`${engine}: publishes/s ${rate}; server CPU µs each ${cpu}`);
  }
  if (phases.includes("fanout")) {
    const [fanout, cpu] = await measure(runs, () => fanoutRun(engine, seconds));
    out(`${engine}: fan-out deliveries/s ${fanout}; server CPU µs per 1,000 ${cpu}`);
  }
}
