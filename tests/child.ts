/**
 * main.ts in a child process, for what only a process shows: signals, exit codes, the
 * command line, kill -9, limits on the process. Its standard output and standard error
 * are kept apart, line by line, so a test can wait for a log line and also check that
 * logs go to standard error only.
 *
 * @module
 */

import type { EngineName } from "../lib/config.ts";
import { type ConfigPatch, type TestFiles, withEngine, writeFiles } from "./helpers.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;

/** What the service is run with in these tests. */
export const PERMISSIONS = ["--allow-net", "--allow-read", "--allow-write", "--allow-env"];

/** How to run the child. */
export interface ChildOptions {
  /** Deno's permission flags; {@link PERMISSIONS} by default. */
  permissions?: string[];
  /**
   * The largest file the process may write, in bytes (rounded down to 512-byte blocks):
   * a write past it fails with EFBIG, as on a full disk, and the process goes on.
   */
  fileSizeLimit?: number;
  /** The open-file limit, soft and hard, that the process starts with. */
  openFileLimit?: number;
}

/** main.ts running as a child process; `await using` kills it if the test did not stop it. */
export class Child implements AsyncDisposable {
  /** Lines written to standard output. */
  readonly stdout: string[] = [];
  /** Lines written to standard error: the log. */
  readonly stderr: string[] = [];
  #process: Deno.ChildProcess;
  #reading: Promise<void>;
  #status: Promise<Deno.CommandStatus>;
  #exited = false;
  #waiters: { pattern: RegExp; resolve: (line: string) => void }[] = [];

  constructor(args: string[], options: ChildOptions = {}) {
    const deno = [Deno.execPath(), "run", ...(options.permissions ?? PERMISSIONS), MAIN, ...args];
    const [cmd, ...rest] = limited(options, deno);
    this.#process = new Deno.Command(cmd!, {
      args: rest,
      stdout: "piped",
      stderr: "piped",
      stdin: "null",
    }).spawn();
    this.#status = this.#process.status.finally(() => this.#exited = true);
    this.#reading = Promise.all([
      this.#read(this.#process.stdout, this.stdout),
      this.#read(this.#process.stderr, this.stderr),
    ]).then(() => {});
  }

  async #read(stream: ReadableStream<Uint8Array>, into: string[]): Promise<void> {
    let rest = "";
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      const parts = (rest + chunk).split("\n");
      rest = parts.pop()!;
      for (const line of parts) this.#add(into, line);
    }
    if (rest) this.#add(into, rest);
  }

  #add(into: string[], line: string): void {
    into.push(line);
    if (into !== this.stderr) return;
    this.#waiters = this.#waiters.filter((w) => !w.pattern.test(line) || (w.resolve(line), false));
  }

  /** Resolves with the first log line (past or future) matching `pattern`. */
  waitLine(pattern: RegExp, timeoutMs = 10_000): Promise<string> {
    const seen = this.stderr.find((l) => pattern.test(l));
    if (seen) return Promise.resolve(seen);
    const { promise, resolve, reject } = Promise.withResolvers<string>();
    const timer = setTimeout(
      () => reject(new Error(`no log line matching ${pattern}; got:\n${this.stderr.join("\n")}`)),
      timeoutMs,
    );
    this.#waiters.push({ pattern, resolve });
    return promise.finally(() => clearTimeout(timer));
  }

  /** Waits until `count` log lines match `pattern`. */
  async waitCount(pattern: RegExp, count: number, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.stderr.filter((l) => pattern.test(l)).length < count) {
      if (Date.now() > deadline) {
        throw new Error(
          `fewer than ${count} log lines match ${pattern}:\n${this.stderr.join("\n")}`,
        );
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  kill(signal: Deno.Signal): void {
    this.#process.kill(signal);
  }

  /**
   * Waits for the exit and for its output; returns the exit code.
   *
   * @throws {Error} when it has not exited within `timeoutMs` (it is then killed), so that
   * a process that should have stopped fails the test instead of hanging it.
   */
  async exit(timeoutMs = 30_000): Promise<number> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<null>((resolve) => timer = setTimeout(() => resolve(null), timeoutMs));
    const status = await Promise.race([this.#status, late]).finally(() => clearTimeout(timer));
    if (status === null) {
      this.kill("SIGKILL");
      await this.#status;
      await this.#reading;
      throw new Error(
        `main.ts did not exit within ${timeoutMs} ms; log:\n${this.stderr.join("\n")}`,
      );
    }
    await this.#reading;
    return status.code;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (!this.#exited) this.kill("SIGKILL");
    await this.#status;
    await this.#reading;
  }
}

/**
 * `command` run under the limits in `options`, if any. Under a file-size limit SIGXFSZ is
 * ignored, so that writes just fail.
 */
function limited(options: ChildOptions, command: string[]): string[] {
  const limits: string[] = [];
  if (options.fileSizeLimit !== undefined) {
    limits.push(`trap "" XFSZ; ulimit -f ${Math.floor(options.fileSizeLimit / 512)}`);
  }
  if (options.openFileLimit !== undefined) limits.push(`ulimit -n ${options.openFileLimit}`);
  if (limits.length === 0) return command;
  return ["sh", "-c", `${limits.join("; ")}; exec "$@"`, "sh", ...command];
}

/** The permission flags of a task in deno.json. */
export async function taskPermissions(task: string): Promise<string[]> {
  const deno = JSON.parse(await Deno.readTextFile(new URL("../deno.json", import.meta.url)));
  return String(deno.tasks[task]).split(/\s+/).filter((arg) => arg.startsWith("--allow-"));
}

/** The port in a "listening for …" log line, text or JSON. */
export function portIn(line: string): number {
  const match = /"?port"?[=:](\d+)/.exec(line);
  if (!match) throw new Error(`no port in ${line}`);
  return Number(match[1]);
}

/** A child that listens; `await using` kills it if the test did not stop it. */
export interface Listening extends AsyncDisposable {
  child: Child;
  port: number;
  url: string;
}

/** Starts main.ts on existing files and resolves once it listens. */
export async function listen(files: TestFiles, options: ChildOptions = {}): Promise<Listening> {
  const child = new Child(["--config", files.config, "--acl", files.acl], options);
  try {
    const port = portIn(await child.waitLine(/listening for HTTP /));
    return {
      child,
      port,
      url: `http://127.0.0.1:${port}`,
      [Symbol.asyncDispose]: () => child[Symbol.asyncDispose](),
    };
  } catch (err) {
    await child[Symbol.asyncDispose]();
    throw err;
  }
}

/** A started child with its files; `await using` kills it and removes the files. */
export interface ChildServer extends Listening {
  files: TestFiles;
}

/**
 * Writes the test config for `engine` (and the ACL, when given), starts main.ts on it and
 * resolves once it listens.
 */
export async function startChild(
  engine: EngineName,
  patch: ConfigPatch = {},
  acl: Record<string, unknown> | null = null,
  options: ChildOptions = {},
): Promise<ChildServer> {
  const files = await writeFiles(withEngine(patch, engine), acl);
  const started = await listen(files, options).catch(async (err) => {
    await files.cleanup();
    throw err;
  });
  return {
    ...started,
    files,
    [Symbol.asyncDispose]: async () => {
      await started[Symbol.asyncDispose]();
      await files.cleanup();
    },
  };
}
