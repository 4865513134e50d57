/**
 * Helpers for the client tests: a server as a child process on a fixed port (so that it
 * can be killed, frozen and restarted at the same URL), and the client's command line as a
 * child process with its output collected.
 */

import { stringify } from "yaml";
import { type ConfigPatch, testConfig, type TestFiles, writeFiles } from "./helpers.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;
const CLI = new URL("../client/cli.ts", import.meta.url).pathname;

/** The permissions of `deno task sub` and `deno task pub`. */
export const CLI_PERMISSIONS = [
  "--allow-net",
  "--allow-read",
  "--allow-write",
  "--allow-env=DENOPUBSUB_PASSWORD",
];

/** A port free now on 127.0.0.1. */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** Config files for a server on a fixed free port with durable, synced history. */
export async function durableFiles(patch: ConfigPatch = {}): Promise<TestFiles & { port: number }> {
  const files = await writeFiles();
  const port = freePort();
  const storage = `${files.dir}/history.log`;
  const config = testConfig({
    ...patch,
    server: {
      port,
      backlog: { size: 1000, storage, sync: true },
      ...(patch.server as object | undefined),
    },
  });
  await Deno.writeTextFile(files.config, stringify(config));
  return { ...files, port };
}

/** main.ts running as a child process. */
export class ServerProcess {
  readonly url: string;
  readonly #child: Deno.ChildProcess;
  readonly #drained: Promise<void>;

  private constructor(child: Deno.ChildProcess, port: number, drained: Promise<void>) {
    this.#child = child;
    this.url = `http://127.0.0.1:${port}`;
    this.#drained = drained;
  }

  /** Starts main.ts with `files` and resolves once it listens. */
  static async start(files: TestFiles): Promise<ServerProcess> {
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", MAIN, "--config", files.config, "--acl", files.acl],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
    let seen = "";
    while (!/listening for HTTP .*port=\d+/.test(seen)) {
      const { value, done } = await reader.read();
      if (done) {
        await child.status;
        throw new Error(`server exited early:\n${seen}`);
      }
      seen += value;
    }
    // Keep draining stderr so that the child never blocks on a full pipe.
    const drained = (async () => {
      while (!(await reader.read()).done);
    })();
    return new ServerProcess(child, Number(/port=(\d+)/.exec(seen)![1]), drained);
  }

  /** Sends a signal (SIGSTOP, SIGCONT, …). */
  signal(signal: Deno.Signal): void {
    this.#child.kill(signal);
  }

  /** Sends `signal` (SIGTERM by default) and waits for the exit. */
  async stop(signal: Deno.Signal = "SIGTERM"): Promise<void> {
    try {
      this.#child.kill(signal);
    } catch (err) {
      if (!(err instanceof TypeError)) throw err; // it had already exited
    }
    await this.#child.status;
    await this.#drained;
  }
}

/** client/cli.ts running as a child process, with stdout and stderr collected. */
export class CliProcess {
  stdout = "";
  stderr = "";
  readonly #child: Deno.ChildProcess;
  readonly #reading: Promise<void>;

  constructor(args: string[], env: Record<string, string> = {}, stdin?: string) {
    this.#child = new Deno.Command(Deno.execPath(), {
      args: ["run", ...CLI_PERMISSIONS, CLI, ...args],
      env,
      stdin: stdin === undefined ? "null" : "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    if (stdin !== undefined) {
      const writer = this.#child.stdin.getWriter();
      writer.write(new TextEncoder().encode(stdin)).then(() => writer.close());
    }
    this.#reading = Promise.all([
      this.#collect(this.#child.stdout, (text) => this.stdout += text),
      this.#collect(this.#child.stderr, (text) => this.stderr += text),
    ]).then(() => {});
  }

  async #collect(stream: ReadableStream<Uint8Array>, add: (text: string) => void) {
    for await (const text of stream.pipeThrough(new TextDecoderStream())) add(text);
  }

  /** The complete lines written to stdout so far. */
  get lines(): string[] {
    return this.stdout.split("\n").slice(0, -1);
  }

  /** Waits until stdout holds `count` lines; throws with the output after `timeoutMs`. */
  async waitLines(count: number, timeoutMs = 15_000): Promise<string[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.lines.length < count) {
      if (Date.now() > deadline) {
        throw new Error(`expected ${count} lines, got:\n${this.stdout}\nstderr:\n${this.stderr}`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    return this.lines;
  }

  /** Waits until stderr matches `pattern`. */
  async waitStderr(pattern: RegExp, timeoutMs = 15_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!pattern.test(this.stderr)) {
      if (Date.now() > deadline) throw new Error(`no ${pattern} on stderr:\n${this.stderr}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Sends a signal, unless the process already exited. */
  kill(signal: Deno.Signal): void {
    try {
      this.#child.kill(signal);
    } catch (err) {
      if (!(err instanceof TypeError)) throw err;
    }
  }

  /** Waits for the exit and all output; returns the exit code. */
  async exit(): Promise<number> {
    const status = await this.#child.status;
    await this.#reading;
    return status.code;
  }
}

/** Runs the command line to its end; returns its exit code and output. */
export async function runCli(
  args: string[],
  env: Record<string, string> = {},
  stdin?: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const cli = new CliProcess(args, env, stdin);
  const code = await cli.exit();
  return { code, stdout: cli.stdout, stderr: cli.stderr };
}
