/**
 * Command-line flags of `deno task bench`.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { type Transport, TRANSPORTS } from "./transport.ts";

/** What a benchmark run does. */
export interface BenchOptions {
  /** Compare with nginx + nchan. */
  nchan: boolean;
  /** One run per target, shorter scenarios, fewer idle subscribers. */
  quick: boolean;
  /** Scenario letters or names; empty for all. */
  scenarios: string[];
  /** DenoPubSub's entry module. */
  server: string;
  /** Another checkout's entry module, run beside it (e.g. before a change), or null. */
  baseline: string | null;
  /** Values of `server.engine` to run DenoPubSub with; empty for its default engine. */
  engines: string[];
  /** Subscriber transports to run DenoPubSub with; empty for NDJSON alone. */
  transports: Transport[];
  /** Also run DenoPubSub with `server.backlog.storage` set, beside each engine. */
  storage: boolean;
  /** Also run DenoPubSub as a cluster node (a Redis stream bus), beside each engine. */
  cluster: boolean;
  /**
   * V8 flag sets to run DenoPubSub with, each beside the others (`none` for V8's defaults);
   * empty for the `start` task's flags.
   */
  v8: string[];
  /** Runs per target per scenario; the table shows medians. */
  repeat: number;
  /** Extra attempts for a run disturbed by other processes. */
  retryBusy: number;
  /** Add a stalled subscriber to the scenarios that publish to subscribers. */
  slow: boolean;
  /** Measure the generator against the trivial server too. */
  ceiling: boolean;
  /** Measure each engine's runtime alone (`Deno.serve`, `node:http`) in the publish scenario. */
  runtime: boolean;
  /** Also measure each runtime doing only what the protocol needs of every publish. */
  floor: boolean;
  /** Where to write every raw result as JSON, or null. */
  json: string | null;
  help: boolean;
}

/** The `--help` text. */
export const USAGE = `Usage: deno task bench [options]

  --vs nchan          also run nginx + nchan (Debian libnginx-mod-nchan) and print ratios
  --quick             1 run per target, shorter scenarios, fewer idle subscribers
  --scenario NAME     run only this scenario (a-g or its name; repeatable, or a,b,c)
                      a fanout, b latency100, c latency10, d idle, e memory, f topics, g publish,
                      h publish100
  --server PATH       DenoPubSub entry module (default: main.ts of this repository)
  --baseline PATH     also run another checkout's main.ts (e.g. before a change) beside it
  --engine NAME       run DenoPubSub with server.engine NAME (repeatable)
  --transport NAME    DenoPubSub's subscribers use ndjson (default), sse or ws (repeatable,
                      a column per transport; the other servers are always NDJSON)
  --storage           also run DenoPubSub with its history on disk (server.backlog.storage)
  --cluster           also run DenoPubSub as a cluster node: events go through a Redis stream
                      (a throwaway redis-server on the server's CPU), beside the embedded mode
  --v8 FLAGS          run DenoPubSub with these V8 flags instead of the start task's, e.g.
                      --v8=--max-semi-space-size=16; none for V8's defaults (repeatable:
                      one column each)
  --repeat N          runs per target and scenario; medians are shown (default 3, quick 1)
  --retry-busy N      run again, up to N times, when other processes took over half a core
                      during a run; the least disturbed run counts (default 2, quick 0)
  --no-ceiling        skip the generator-ceiling runs against the trivial server
  --no-runtime        skip the runtime references in (g): Deno.serve (or node:http, for
                      --engine node) reading each body and answering 202, nothing else
  --floor             also run the runtimes doing only what the protocol needs of every
                      publish (two request headers, the peer, the URL, three answer headers)
  --no-slow           leave out the stalled subscriber (one that never reads) in (a)-(d), (f)
  --json FILE         write every raw result to FILE
  --help              show this help
`;

const DEFAULT_SERVER = new URL("../main.ts", import.meta.url).pathname;

/**
 * Parses the flags.
 *
 * @throws {Error} with a one-line message for an unknown flag or a bad value.
 * @example
 * ```ts
 * import { parseOptions } from "./options.ts";
 * console.assert(parseOptions(["--vs", "nchan", "--quick"]).repeat === 1);
 * ```
 */
export function parseOptions(args: string[]): BenchOptions {
  const { values } = parseArgs({
    args,
    options: {
      vs: { type: "string", multiple: true, default: [] },
      quick: { type: "boolean", default: false },
      scenario: { type: "string", multiple: true, default: [] },
      server: { type: "string", default: DEFAULT_SERVER },
      baseline: { type: "string" },
      engine: { type: "string", multiple: true, default: [] },
      transport: { type: "string", multiple: true, default: [] },
      storage: { type: "boolean", default: false },
      cluster: { type: "boolean", default: false },
      v8: { type: "string", multiple: true, default: [] },
      repeat: { type: "string" },
      "retry-busy": { type: "string" },
      "no-ceiling": { type: "boolean", default: false },
      "no-runtime": { type: "boolean", default: false },
      floor: { type: "boolean", default: false },
      "no-slow": { type: "boolean", default: false },
      json: { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  for (const vs of values.vs) {
    if (vs !== "nchan") throw new Error(`--vs ${vs}: only nchan is known`);
  }
  const transports = values.transport.flatMap((t) => t.split(",")).filter((t) => t !== "");
  for (const t of transports) {
    if (!(TRANSPORTS as readonly string[]).includes(t)) {
      throw new Error(`--transport ${t}: expected one of ${TRANSPORTS.join(", ")}`);
    }
  }
  const repeat = values.repeat === undefined ? (values.quick ? 1 : 3) : Number(values.repeat);
  if (!Number.isInteger(repeat) || repeat < 1 || repeat > 9) {
    throw new Error(`--repeat must be a whole number from 1 to 9, got ${values.repeat}`);
  }
  const retryBusy = values["retry-busy"] === undefined
    ? (values.quick ? 0 : 2)
    : Number(values["retry-busy"]);
  if (!Number.isInteger(retryBusy) || retryBusy < 0 || retryBusy > 5) {
    throw new Error(`--retry-busy must be a whole number from 0 to 5, got ${values["retry-busy"]}`);
  }
  return {
    nchan: values.vs.length > 0,
    quick: values.quick,
    scenarios: values.scenario,
    server: values.server,
    baseline: values.baseline ?? null,
    engines: values.engine.flatMap((e) => e.split(",")).filter((e) => e !== ""),
    transports: transports as Transport[],
    storage: values.storage,
    cluster: values.cluster,
    v8: values.v8,
    repeat,
    retryBusy,
    ceiling: !values["no-ceiling"],
    runtime: !values["no-runtime"],
    floor: values.floor,
    slow: !values["no-slow"],
    json: values.json ?? null,
    help: values.help,
  };
}
