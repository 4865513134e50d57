/**
 * Process plumbing for the benchmark: start a command pinned to a core with the open-file
 * limit raised, stop it by PID, read its resident memory, find a free loopback port.
 *
 * @module
 */

/** A child process started by {@link spawnPinned}. */
export interface Spawned {
  readonly pid: number;
  readonly child: Deno.ChildProcess;
  /** Sends SIGTERM, then SIGKILL after `graceMs`, and waits for the exit. */
  stop(graceMs?: number): Promise<void>;
}

/** Options for {@link spawnPinned}. */
export interface SpawnOptions {
  /** CPU to pin to, or null to leave scheduling alone. */
  cpu: number | null;
  /** File receiving stdout and stderr; null pipes stdout back to the caller instead. */
  logFile: string | null;
  cwd?: string;
}

/**
 * Starts `cmd` through `sh`, which raises the soft open-file limit to the hard one and then
 * `exec`s `taskset` and the command, so the returned PID is the command's own.
 *
 * @example
 * ```ts ignore
 * import { spawnPinned } from "./proc.ts";
 * const p = spawnPinned(["sleep", "5"], { cpu: 0, logFile: "/tmp/x.log" });
 * await p.stop();
 * ```
 */
export function spawnPinned(cmd: string[], opts: SpawnOptions): Spawned {
  const pin = opts.cpu === null ? "" : `taskset -c ${opts.cpu} `;
  const redirect = opts.logFile === null ? "" : ' >"$BENCH_LOG" 2>&1';
  const script = `ulimit -n "$(ulimit -Hn)"; exec ${pin}"$@"${redirect}`;
  const child = new Deno.Command("sh", {
    args: ["-c", script, "sh", ...cmd],
    env: opts.logFile === null ? {} : { BENCH_LOG: opts.logFile },
    cwd: opts.cwd,
    stdin: "null",
    stdout: opts.logFile === null ? "piped" : "null",
    stderr: "inherit",
  }).spawn();
  const stop = async (graceMs = 5000) => {
    const timer = setTimeout(() => signal(child, "SIGKILL"), graceMs);
    signal(child, "SIGTERM");
    try {
      await child.status;
    } finally {
      clearTimeout(timer);
    }
  };
  return { pid: child.pid, child, stop };
}

function signal(child: Deno.ChildProcess, sig: Deno.Signal): void {
  try {
    child.kill(sig);
  } catch {
    // Already exited.
  }
}

/**
 * The text of a `/proc` file, read through `cat`: Deno lets only `--allow-all` read `/proc`,
 * while permission to run `cat` is enough for this.
 */
export async function readProcFile(path: string): Promise<string> {
  const out = await new Deno.Command("cat", { args: [path], stderr: "null" }).output();
  if (!out.success) throw new Error(`cannot read ${path}`);
  return new TextDecoder().decode(out.stdout);
}

/** VmRSS of process `pid` in KB. */
export async function readRssKB(pid: number): Promise<number> {
  const status = await readProcFile(`/proc/${pid}/status`);
  const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  if (!match) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(match[1]);
}

/**
 * CPU time (user + system) process `pid` has used so far, in seconds; with `thread`, that
 * one thread's (the main thread's id is the process id).
 */
export async function readCpuSeconds(pid: number, thread?: number): Promise<number> {
  const stat = await readProcFile(
    thread === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${thread}/stat`,
  );
  // Fields after the command name, which is in parentheses and may hold spaces.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

/** CPU time all processes on the machine have used so far (busy, not idle), in seconds. */
export async function readMachineBusySeconds(): Promise<number> {
  const stat = await readProcFile("/proc/stat");
  const fields = (stat.split("\n", 1)[0] ?? "").trim().split(/\s+/).slice(1).map(Number);
  const total = fields.slice(0, 8).reduce((sum, v) => sum + v, 0);
  const idle = (fields[3] ?? 0) + (fields[4] ?? 0);
  return (total - idle) / CLOCK_TICKS;
}

/** USER_HZ: the unit of times in `/proc` on Linux. */
const CLOCK_TICKS = 100;

/** A loopback port that was free a moment ago. */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** Waits until something accepts connections on `port`, or throws after `timeoutMs`. */
export async function waitForPort(
  port: number,
  timeoutMs: number,
  exited: Promise<unknown>,
): Promise<void> {
  let gone = false;
  exited.then(() => gone = true, () => gone = true);
  const end = Date.now() + timeoutMs;
  while (Date.now() < end && !gone) {
    try {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      conn.close();
      return;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }
  throw new Error(gone ? "exited before listening" : `not listening after ${timeoutMs} ms`);
}

/** The hard limit on open files, which {@link spawnPinned} gives its children. */
export async function openFileLimit(): Promise<number> {
  const out = await new Deno.Command("sh", { args: ["-c", "ulimit -Hn"], stderr: "null" })
    .output();
  const text = new TextDecoder().decode(out.stdout).trim();
  return text === "unlimited" ? Infinity : Number(text);
}
