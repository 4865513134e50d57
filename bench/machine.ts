/**
 * A one-paragraph description of the machine a benchmark ran on, for the report.
 *
 * @module
 */

import { readProcFile } from "./proc.ts";

async function cpuModel(): Promise<string> {
  try {
    const info = await readProcFile("/proc/cpuinfo");
    return /^model name\s*:\s*(.+)$/m.exec(info)?.[1]?.trim() ?? "unknown CPU";
  } catch {
    return "unknown CPU";
  }
}

async function nginxVersion(): Promise<string | null> {
  try {
    const out = await new Deno.Command("nginx", { args: ["-v"], stdout: "null", stderr: "piped" })
      .output();
    return /nginx\/(\S+)/.exec(new TextDecoder().decode(out.stderr))?.[1] ?? null;
  } catch {
    return null;
  }
}

/** The system load average over the last minute. */
export function loadAverage(): number {
  return Deno.loadavg()[0] ?? NaN;
}

/**
 * CPU model and count, memory, kernel, Deno and nginx versions, and the load average.
 *
 * @example
 * ```ts ignore
 * import { describeMachine } from "./machine.ts";
 * console.log(await describeMachine());
 * ```
 */
export async function describeMachine(): Promise<string> {
  const nginx = await nginxVersion();
  const parts = [
    `${await cpuModel()} × ${navigator.hardwareConcurrency}`,
    `${(Deno.systemMemoryInfo().total / 2 ** 30).toFixed(0)} GB RAM`,
    `Linux ${Deno.osRelease()}`,
    `Deno ${Deno.version.deno}`,
    nginx ? `nginx ${nginx}` : null,
    `load average ${loadAverage().toFixed(2)}`,
  ];
  return parts.filter((p) => p !== null).join(", ");
}

/** The short commit hash of the git checkout holding `file`, or null outside git. */
export async function gitCommit(file: string): Promise<string | null> {
  try {
    const dir = file.slice(0, file.lastIndexOf("/")) || ".";
    const out = await new Deno.Command("git", {
      args: ["-C", dir, "log", "-1", "--format=%h %cs"],
      stdout: "piped",
      stderr: "null",
    }).output();
    const text = new TextDecoder().decode(out.stdout).trim();
    return out.success && text ? text : null;
  } catch {
    return null;
  }
}
