/**
 * The servers a benchmark run compares: the trivial fan-out server (the generator's
 * ceiling), DenoPubSub itself, and nginx + nchan. Each start gets a fresh process on a
 * free loopback port, pinned to the server core, with its files in a temp dir.
 *
 * @module
 */

import { nchanConfig } from "./nchan.ts";
import { freePort, type Spawned, spawnPinned, waitForPort } from "./proc.ts";
import { type Transport, transportHeaders } from "./transport.ts";

/** Which server a target runs. */
export type TargetId = "ceiling" | "runtime" | "ours" | "nchan";

/** A started server. */
export interface RunningServer {
  readonly port: number;
  /** The process whose memory is measured. */
  readonly pid: number;
  /** Processes working for it (a cluster node's Redis), whose CPU counts as its own. */
  readonly helperPids: number[];
  /** Stops the process and removes its temp dir. */
  stop(): Promise<void>;
}

/** A server to measure and how the generator talks to it. */
export interface Target {
  readonly id: TargetId;
  readonly label: string;
  /** Subscribe and publish paths with `{topic}` in place of the topic. */
  readonly subscribePath: string;
  readonly publishPath: string;
  /** Extra subscribe request header lines, each ending in `\r\n`. */
  readonly subscribeHeaders: string;
  /** Appended to each event body. */
  readonly bodySuffix: string;
  /** How its subscribers receive events; NDJSON when not said. */
  readonly transport?: Transport;
  /** Serves publishes only: scenarios with subscribers are not run against it. */
  readonly publishOnly?: boolean;
  /** Starts a fresh instance pinned to `cpu` (null: unpinned). */
  start(cpu: number | null): Promise<RunningServer>;
}

const READY_TIMEOUT_MS = 20_000;

interface Launch {
  cmd: string[];
  port: number;
  cpu: number | null;
  /** Temp dir of this instance; holds `server.log` and is removed on stop. */
  dir: string;
  cwd?: string;
}

async function startProcess({ cmd, port, cpu, dir, cwd }: Launch): Promise<RunningServer> {
  const proc: Spawned = spawnPinned(cmd, { cpu, logFile: `${dir}/server.log`, cwd });
  const stop = async () => {
    await proc.stop();
    await Deno.remove(dir, { recursive: true });
  };
  try {
    await waitForPort(port, READY_TIMEOUT_MS, proc.child.status);
  } catch (err) {
    const log = await Deno.readTextFile(`${dir}/server.log`).catch(() => "");
    await stop();
    const detail = log.trim().split("\n").slice(-3).join(" | ");
    throw new Error(`${cmd[0]} ${(err as Error).message}${detail ? `: ${detail}` : ""}`);
  }
  return { port, pid: proc.pid, helperPids: [], stop };
}

/** The trivial fan-out server in this directory: the load generator's ceiling. */
export function ceilingTarget(): Target {
  const script = new URL("./trivial_server.ts", import.meta.url).pathname;
  return {
    id: "ceiling",
    label: "generator ceiling",
    subscribePath: "/{topic}",
    publishPath: "/{topic}",
    subscribeHeaders: "",
    bodySuffix: "",
    async start(cpu) {
      const dir = await Deno.makeTempDir({ prefix: "bench-ceiling-" });
      const port = freePort();
      const cmd = [Deno.execPath(), "run", "--allow-net=127.0.0.1", script, String(port)];
      return await startProcess({ cmd, port, cpu, dir });
    },
  };
}

/** The HTTP runtimes DenoPubSub's engines run on, as {@link runtimeTarget} names them. */
export const RUNTIME_LABELS: Readonly<Record<string, string>> = {
  deno: "Deno.serve alone",
  node: "node:http alone",
};

/**
 * `bench/runtime_reference.ts`: the runtime behind DenoPubSub's engine `engine` (`deno` or
 * `node`), reading each body and answering 202, nothing else; with `floor`, also reading
 * and writing the headers and addresses the protocol needs on every publish. Publishing
 * only.
 */
export function runtimeTarget(engine: string, floor = false): Target {
  const script = new URL("./runtime_reference.ts", import.meta.url).pathname;
  const label = RUNTIME_LABELS[engine] ?? engine;
  return {
    id: "runtime",
    label: floor ? label.replace("alone", "protocol floor") : label,
    subscribePath: "/{topic}",
    publishPath: "/{topic}",
    subscribeHeaders: "",
    bodySuffix: "",
    publishOnly: true,
    async start(cpu) {
      const dir = await Deno.makeTempDir({ prefix: "bench-runtime-" });
      const port = freePort();
      const kind = floor ? `${engine}-floor` : engine;
      const cmd = [Deno.execPath(), "run", "--allow-net=127.0.0.1", script, kind, String(port)];
      return await startProcess({ cmd, port, cpu, dir });
    },
  };
}

/** How {@link oursTarget} runs DenoPubSub. */
export interface OursOptions {
  /** Extra `server` keys of the config, such as `engine: node`. */
  readonly server?: Readonly<Record<string, string>>;
  /** Keep the history in a log file in the temp folder (`server.backlog.storage`). */
  readonly storage?: boolean;
  /**
   * A cluster node: a throwaway `redis-server`, pinned to the server's CPU, carries the
   * events (`cluster.redis`), so the bus's cost is counted on the same core, and its CPU
   * time as the server's.
   */
  readonly cluster?: boolean;
  /** How its subscribers receive events; NDJSON when not said. */
  readonly transport?: Transport;
  /** The `--v8-flags=…` argument; by default the one of the `start` task. */
  readonly v8Flags?: string;
  /** More `deno run` flags (e.g. `--inspect=…` for a profile). */
  readonly denoFlags?: readonly string[];
}

/**
 * DenoPubSub started from `entry` (its `main.ts`) with a temp config: loopback only,
 * loopback publishers, history in memory (10,000 events), and what `opts` adds: history
 * storage, a Redis bus, a transport for its subscribers, V8 and Deno flags.
 */
export function oursTarget(entry: string, label: string, opts: OursOptions = {}): Target {
  const transport = opts.transport ?? "ndjson";
  const cwd = entry.slice(0, entry.lastIndexOf("/")) || ".";
  return {
    id: "ours",
    label,
    subscribePath: "/{topic}",
    publishPath: "/{topic}",
    subscribeHeaders: transportHeaders(transport),
    bodySuffix: "",
    transport,
    async start(cpu) {
      const dir = await Deno.makeTempDir({ prefix: "bench-ours-" });
      const port = freePort();
      const extraLines = Object.entries(opts.server ?? {}).map(([k, v]) => `  ${k}: ${v}\n`)
        .join("");
      const storageLine = opts.storage ? `    storage: ${dir}/history.log\n` : "";
      const redis = opts.cluster ? await startRedis(dir, cpu) : null;
      const clusterLines = redis ? `cluster:\n  redis: redis://127.0.0.1:${redis.port}/0\n` : "";
      // No stream cap: (d) opens streams up to the open-file limit on purpose.
      await Deno.writeTextFile(
        `${dir}/pubsub.yaml`,
        `server:\n  port: ${port}\n  bind: 127.0.0.1\n  max_streams: 0\n` +
          `  backlog:\n    size: 10000\n${storageLine}` +
          `${extraLines}clients:\n  payloaders:\n    - 127.0.0.1/32\n${clusterLines}`,
      );
      await Deno.writeTextFile(`${dir}/pubsub_acl.yaml`, "{}\n");
      // The server gets every permission: which ones it needs is its own business, and
      // the benchmark must not break when that changes. V8 flags are part of how it runs.
      const v8 = opts.v8Flags === undefined ? await startV8Flags(cwd) : [opts.v8Flags];
      const cmd = [Deno.execPath(), "run", ...v8.filter((f) => f !== "")];
      cmd.push(...opts.denoFlags ?? [], "-A", entry, "--config", `${dir}/pubsub.yaml`);
      cmd.push("--acl", `${dir}/pubsub_acl.yaml`, "--log-level", "warn");
      const server = await startProcess({ cmd, port, cpu, dir, cwd }).catch(async (err) => {
        await redis?.stop();
        throw err;
      });
      if (!redis) return server;
      // The server's stop removes the temp folder, which Redis writes its log in: Redis last.
      return {
        ...server,
        helperPids: [redis.pid],
        stop: () => server.stop().finally(() => redis.stop()),
      };
    },
  };
}

/** A throwaway `redis-server` without persistence, pinned to `cpu`, logging into `dir`. */
async function startRedis(dir: string, cpu: number | null): Promise<Spawned & { port: number }> {
  const port = freePort();
  const args = ["--bind", "127.0.0.1", "--port", String(port), "--save", "", "--appendonly", "no"];
  const proc = spawnPinned(["redis-server", ...args, "--dir", dir], {
    cpu,
    logFile: `${dir}/redis.log`,
  });
  try {
    await waitForPort(port, READY_TIMEOUT_MS, proc.child.status);
  } catch (err) {
    await proc.stop();
    throw new Error(`redis-server ${(err as Error).message}`);
  }
  return { ...proc, port };
}

/**
 * The `--v8-flags=…` of the `start` task in `dir/deno.json`, so the benchmark runs the
 * server as `deno task start` does; none when there is no such file or task.
 */
export async function startV8Flags(dir: string): Promise<string[]> {
  let start: unknown;
  try {
    start = JSON.parse(await Deno.readTextFile(`${dir}/deno.json`))?.tasks?.start;
  } catch {
    return [];
  }
  if (typeof start !== "string") return [];
  return start.split(/\s+/).filter((arg) => arg.startsWith("--v8-flags="));
}

/** nginx + nchan with a throwaway config; `maxFiles` bounds its connections. */
export function nchanTarget(maxFiles: number): Target {
  return {
    id: "nchan",
    label: "nginx + nchan",
    subscribePath: "/sub/{topic}",
    publishPath: "/pub/{topic}",
    subscribeHeaders: "TE: chunked\r\n",
    bodySuffix: "\n",
    async start(cpu) {
      const dir = await Deno.makeTempDir({ prefix: "bench-nchan-" });
      const port = freePort();
      await Deno.writeTextFile(`${dir}/nginx.conf`, nchanConfig(dir, port, maxFiles));
      const cmd = ["nginx", "-p", dir, "-c", `${dir}/nginx.conf`, "-e", `${dir}/error.log`];
      return await startProcess({ cmd, port, cpu, dir });
    },
  };
}
