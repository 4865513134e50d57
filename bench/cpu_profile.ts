/**
 * CPU profiles of a running Deno process over its inspector (the Chrome DevTools
 * protocol), and their summary: where the samples fell, by function (self time) and by
 * the functions on the stack (inclusive time).
 *
 * @module
 */

/** One function in a V8 CPU profile. */
export interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

/** A V8 CPU profile as `Profiler.stop` returns it. */
export interface CpuProfile {
  nodes: ProfileNode[];
  /** Microseconds. */
  startTime: number;
  endTime: number;
  /** The leaf node of each sample. */
  samples: number[];
  /** Wall-clock microseconds since the previous sample. */
  timeDeltas: number[];
}

/** A function's share of a profile. */
export interface ProfileLine {
  /** `name (file:line)`, or V8's pseudo-functions such as `(garbage collector)`. */
  readonly name: string;
  /** Microseconds in samples where it was the running function. */
  readonly selfUs: number;
  /** Microseconds in samples where it was anywhere on the stack. */
  readonly totalUs: number;
}

/** V8's pseudo-functions for time outside JavaScript, and for no work at all. */
const IDLE = "(idle)";

function label(node: ProfileNode, root: string): string {
  const { functionName, url, lineNumber } = node.callFrame;
  if (url === "") return functionName || "(anonymous)";
  const file = url.startsWith(root) ? url.slice(root.length) : url.replace(/^.*\//, "");
  return `${functionName || "(anonymous)"} (${file}:${lineNumber + 1})`;
}

/**
 * Self and inclusive time per function, busiest first by self time; idle samples are left
 * out. A function on the stack more than once in a sample (recursion) counts once.
 *
 * Each sample counts as one sampling interval of running time. The profile's own
 * `timeDeltas` are wall-clock gaps: while another process has the core they grow, and a
 * function caught before the pause would be charged for it.
 *
 * @param root a URL prefix cut from file names, e.g. `file:///repo/`.
 * @param sampleUs the sampling interval the profile was taken with.
 * @example
 * ```ts
 * import { summarize } from "./cpu_profile.ts";
 * const frame = (functionName: string) => ({ functionName, url: "", lineNumber: 0 });
 * const lines = summarize({
 *   nodes: [
 *     { id: 1, callFrame: frame("(root)"), children: [2] },
 *     { id: 2, callFrame: frame("work") },
 *   ],
 *   startTime: 0, endTime: 20, samples: [2, 2], timeDeltas: [10, 10],
 * }, "", 10);
 * console.assert(lines[0]!.name === "work" && lines[0]!.selfUs === 20);
 * ```
 */
export function summarize(profile: CpuProfile, root: string, sampleUs: number): ProfileLine[] {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const self = new Map<string, number>();
  const total = new Map<string, number>();
  const us = sampleUs;
  for (const leaf of profile.samples) {
    const leafName = label(byId.get(leaf)!, root);
    if (leafName === IDLE) continue;
    self.set(leafName, (self.get(leafName) ?? 0) + us);
    const seen = new Set<string>();
    for (let id: number | undefined = leaf; id !== undefined; id = parent.get(id)) {
      const name = label(byId.get(id)!, root);
      if (seen.has(name)) continue;
      seen.add(name);
      total.set(name, (total.get(name) ?? 0) + us);
    }
  }
  return [...total.entries()]
    .map(([name, totalUs]) => ({ name, selfUs: self.get(name) ?? 0, totalUs }))
    .sort((a, b) => b.selfUs - a.selfUs || b.totalUs - a.totalUs);
}

/** Busy microseconds of a profile: every sample but idle ones. */
export function busyUs(lines: readonly ProfileLine[]): number {
  return lines.reduce((sum, line) => sum + line.selfUs, 0);
}

/** A Chrome DevTools protocol session with one inspector target. */
export class Inspector {
  readonly #socket: WebSocket;
  readonly #pending = new Map<number, (reply: { result?: unknown; error?: unknown }) => void>();
  #nextId = 1;

  private constructor(socket: WebSocket) {
    this.#socket = socket;
    socket.onmessage = (e) => {
      const msg = JSON.parse(String(e.data)) as { id?: number; result?: unknown; error?: unknown };
      if (msg.id === undefined) return;
      this.#pending.get(msg.id)?.(msg);
      this.#pending.delete(msg.id);
    };
  }

  /** Connects to the first target of the inspector listening on `port` (loopback). */
  static async connect(port: number): Promise<Inspector> {
    const res = await fetch(`http://127.0.0.1:${port}/json/list`);
    const [target] = await res.json() as { webSocketDebuggerUrl: string }[];
    if (!target) throw new Error(`no inspector target on port ${port}`);
    const socket = new WebSocket(target.webSocketDebuggerUrl);
    await new Promise<void>((resolve, reject) => {
      socket.onopen = () => resolve();
      socket.onerror = () => reject(new Error(`cannot reach the inspector on port ${port}`));
    });
    return new Inspector(socket);
  }

  /** Sends one command and waits for its answer. */
  call<T>(method: string, params: Record<string, unknown> = {}): Promise<T> {
    const id = this.#nextId++;
    return new Promise<T>((resolve, reject) => {
      this.#pending.set(id, (reply) => {
        if (reply.error) reject(new Error(`${method}: ${JSON.stringify(reply.error)}`));
        else resolve(reply.result as T);
      });
      this.#socket.send(JSON.stringify({ id, method, params }));
    });
  }

  /** Starts sampling every `intervalUs` microseconds. */
  async startProfile(intervalUs: number): Promise<void> {
    await this.call("Profiler.enable");
    await this.call("Profiler.setSamplingInterval", { interval: intervalUs });
    await this.call("Profiler.start");
  }

  /** Stops sampling and returns the profile. */
  async stopProfile(): Promise<CpuProfile> {
    const { profile } = await this.call<{ profile: CpuProfile }>("Profiler.stop");
    return profile;
  }

  /** Closes the session; resolves once the socket is closed. */
  close(): Promise<void> {
    if (this.#socket.readyState === WebSocket.CLOSED) return Promise.resolve();
    return new Promise((resolve) => {
      this.#socket.onclose = () => resolve();
      this.#socket.close();
    });
  }
}
