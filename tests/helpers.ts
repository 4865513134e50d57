/**
 * Test helpers: a config factory over temp folders, an in-process server on port 0, tests
 * run once per HTTP engine, and stream clients that read NDJSON lines. Servers and streams
 * are async-disposable, so `await using` closes them however the test ends.
 */

import { stringify } from "yaml";
import { App, startApp } from "../lib/app.ts";
import type { EngineName } from "../lib/config.ts";
import { configureLog } from "../lib/log.ts";

// Tests assert on behaviour, not on log lines; keep the output readable.
configureLog({ level: "error" });

/** Fetch options, with Deno's custom HTTP client (for TLS tests). */
export type FetchInit = RequestInit & { client?: Deno.HttpClient };

/** A nested partial config; merged over the test defaults. */
export type ConfigPatch = Record<string, unknown>;

/** Files written for one test, in a temp folder removed by `cleanup`. */
export interface TestFiles {
  dir: string;
  config: string;
  acl: string;
  cleanup(): Promise<void>;
}

function merge(base: Record<string, unknown>, patch: Record<string, unknown>) {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(patch)) {
    const b = out[k];
    out[k] = v && typeof v === "object" && !Array.isArray(v) && b && typeof b === "object"
      ? merge(b as Record<string, unknown>, v as Record<string, unknown>)
      : v;
  }
  return out;
}

/** The defaults every test starts from: loopback, port 0, loopback publishers. */
export function testConfig(patch: ConfigPatch = {}): Record<string, unknown> {
  return merge({
    server: { port: 0, bind: "127.0.0.1", max_payload_size: 10240 },
    clients: { payloaders: ["127.0.0.1/32", "::1/128"], oldschoolers: ["svnwcsub"] },
  }, patch);
}

/** Writes `pubsub.yaml` and `pubsub_acl.yaml` into a new temp folder. */
export async function writeFiles(
  patch: ConfigPatch = {},
  acl: Record<string, unknown> | null = null,
): Promise<TestFiles> {
  const dir = await Deno.makeTempDir({ prefix: "denopubsub-test-" });
  const files: TestFiles = {
    dir,
    config: `${dir}/pubsub.yaml`,
    acl: `${dir}/pubsub_acl.yaml`,
    cleanup: () => Deno.remove(dir, { recursive: true }),
  };
  await Deno.writeTextFile(files.config, stringify(testConfig(patch)));
  if (acl) await Deno.writeTextFile(files.acl, stringify(acl));
  return files;
}

/** A server running in this process, with its files; `await using` stops it. */
export interface TestServer extends AsyncDisposable {
  app: App;
  files: TestFiles;
  url: string;
  close(): Promise<void>;
}

/** Starts a server on a free loopback port. */
export async function startServer(
  patch: ConfigPatch = {},
  acl: Record<string, unknown> | null = null,
): Promise<TestServer> {
  const files = await writeFiles(patch, acl);
  const app = await startApp(files).catch(async (err) => {
    await files.cleanup();
    throw err;
  });
  const close = async () => {
    await app.stop();
    await files.cleanup();
  };
  return {
    app,
    files,
    url: `http://127.0.0.1:${app.server.port}`,
    close,
    [Symbol.asyncDispose]: close,
  };
}

/** Every HTTP engine; end-to-end tests run over each. */
export const ENGINES: readonly EngineName[] = ["deno", "node"];

/** What an engine test gets: the engine, `startServer` bound to it, and Deno's context. */
export interface EngineContext {
  engine: EngineName;
  start(patch?: ConfigPatch, acl?: Record<string, unknown> | null): Promise<TestServer>;
  /** The test's own context, for `step`. */
  test: Deno.TestContext;
}

/** The patch with `server.engine` set. */
export function withEngine(patch: ConfigPatch, engine: EngineName): ConfigPatch {
  return merge(patch, { server: { ...(patch.server as object | undefined), engine } });
}

/** Options of {@link engineTest}. */
export interface EngineTestOptions {
  /** Registers the test as ignored (say why in the test file), so it is not reported ok. */
  ignore?: boolean;
}

/** Registers the test once per engine, named `name [engine]`. */
export function engineTest(
  name: string,
  fn: (t: EngineContext) => Promise<void>,
  options: EngineTestOptions = {},
): void {
  for (const engine of ENGINES) {
    const start = (patch: ConfigPatch = {}, acl: Record<string, unknown> | null = null) =>
      startServer(withEngine(patch, engine), acl);
    Deno.test({
      name: `${name} [${engine}]`,
      ignore: options.ignore ?? false,
      fn: (test) => fn({ engine, start, test }),
    });
  }
}

/** Publishes a JSON body; returns the status and consumes the response body. */
export async function publish(
  url: string,
  body: string | Record<string, unknown>,
  init: FetchInit = {},
): Promise<number> {
  const res = await fetch(url, {
    method: "PUT",
    body: typeof body === "string" ? body : JSON.stringify(body),
    ...init,
  });
  await res.body?.cancel();
  return res.status;
}

/** A parsed line of a subscription stream. */
export type Line = Record<string, unknown>;

/** How a {@link StreamClient} opens its stream. */
export type StreamInit = FetchInit & {
  /** Return keepalive lines from `next()` too (and do not wait for the first one). */
  keepalives?: boolean;
  /**
   * The server must frame every line as for PyPubSub's oldschool clients, `\n\0`; without
   * it a NUL anywhere is an error. Send a matching `User-Agent` yourself.
   */
  oldschool?: boolean;
};

/**
 * A subscriber over fetch that reads the stream line by line. Keepalive lines are
 * skipped unless `keepalives` is set. Framing is checked, not forgiven: a frame is one
 * line ending in `\n`, followed by `\0` exactly when the client is `oldschool`.
 */
export class StreamClient implements AsyncDisposable {
  readonly response: Response;
  #reader: ReadableStreamDefaultReader<Uint8Array>;
  #buffer = new Uint8Array(0);
  #keepalives: boolean;
  #oldschool: boolean;
  /** A read left pending by a timeout; the next call takes its result. */
  #pending: Promise<ReadableStreamReadResult<Uint8Array>> | null = null;

  private constructor(response: Response, init: StreamInit) {
    this.response = response;
    this.#reader = response.body!.getReader();
    this.#keepalives = init.keepalives ?? false;
    this.#oldschool = init.oldschool ?? false;
  }

  /** Opens a stream; resolves once the response headers and first keepalive arrived. */
  static async open(url: string, init: StreamInit = {}): Promise<StreamClient> {
    const res = await fetch(url, init);
    if (res.status !== 200) {
      const text = await res.text();
      throw new Error(`subscribe to ${url} answered ${res.status}: ${text}`);
    }
    const client = new StreamClient(res, init);
    if (!client.#keepalives) await client.nextRaw(); // the first stillalive
    return client;
  }

  /**
   * The next raw frame: bytes up to and including "\n", and the "\0" after it for an
   * oldschool client.
   *
   * @throws {Error} when the framing is wrong: a NUL inside a line or after a line that
   * should not have one, or none where it should.
   */
  async nextRaw(timeoutMs = 5000): Promise<Uint8Array> {
    const deadline = Date.now() + timeoutMs;
    while (true) {
      const frame = this.#takeFrame();
      if (frame) return frame;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error("timed out waiting for a line");
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error("timed out waiting for a line")), left);
      });
      try {
        this.#pending ??= this.#reader.read();
        const { value, done } = await Promise.race([this.#pending, timeout]);
        this.#pending = null;
        if (done) throw new Error("stream ended");
        const joined = new Uint8Array(this.#buffer.length + value.length);
        joined.set(this.#buffer);
        joined.set(value, this.#buffer.length);
        this.#buffer = joined;
      } finally {
        clearTimeout(timer);
      }
    }
  }

  /** Cuts the next frame off the buffer, or returns null when it has not all arrived. */
  #takeFrame(): Uint8Array | null {
    const nl = this.#buffer.indexOf(10);
    if (nl < 0) return null;
    const end = this.#oldschool ? nl + 2 : nl + 1;
    if (end > this.#buffer.length) return null;
    const frame = this.#buffer.slice(0, end);
    this.#buffer = this.#buffer.slice(end);
    const nul = frame.indexOf(0);
    const text = () => JSON.stringify(new TextDecoder().decode(frame));
    if (this.#oldschool && nul !== nl + 1) {
      throw new Error(`oldschool frame without \\n\\0: ${text()}`);
    }
    if (!this.#oldschool && nul >= 0) throw new Error(`NUL in a stream frame: ${text()}`);
    return frame;
  }

  /** The next event (or keepalive, if asked for), parsed. */
  async next(timeoutMs = 5000): Promise<Line> {
    while (true) {
      const frame = await this.nextRaw(timeoutMs);
      const body = this.#oldschool ? frame.subarray(0, -1) : frame;
      const line = JSON.parse(new TextDecoder().decode(body)) as Line;
      if (this.#keepalives || !("stillalive" in line)) return line;
    }
  }

  /** Asserts nothing but keepalives arrives for `ms`. */
  async expectSilence(ms = 150): Promise<void> {
    try {
      const line = await this.next(ms);
      throw new Error(`expected no event, got ${JSON.stringify(line)}`);
    } catch (err) {
      if (!(err instanceof Error) || !err.message.startsWith("timed out")) throw err;
    }
  }

  /**
   * Reads until the stream stops. True when it was cut (the connection lost before the
   * chunked body's last chunk), false when it ended cleanly or went on past `timeoutMs`.
   */
  async cut(timeoutMs = 3000): Promise<boolean> {
    try {
      while (true) await this.nextRaw(timeoutMs);
    } catch (err) {
      const message = (err as Error).message;
      return message !== "stream ended" && !message.startsWith("timed out");
    }
  }

  /** Ends the stream from the client side; closing again does nothing. */
  async close(): Promise<void> {
    await this.#reader.cancel().catch(() => {});
    await this.#pending?.catch(() => {});
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/**
 * Stream clients closed together when the group is disposed, also those opened before
 * an open among several failed.
 *
 * @example
 * ```ts ignore
 * await using streams = new Streams();
 * const subs = await Promise.all([1, 2].map(() => streams.open(`${url}/t`)));
 * ```
 */
export class Streams implements AsyncDisposable {
  readonly #all: StreamClient[] = [];

  /** Opens a stream (as {@link StreamClient.open}) that the group closes. */
  async open(url: string, init: StreamInit = {}): Promise<StreamClient> {
    const client = await StreamClient.open(url, init);
    this.#all.push(client);
    return client;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await Promise.all(this.#all.map((client) => client.close()));
  }
}

/** Basic auth header value. */
export function basic(user: string, password: string): string {
  return "Basic " + btoa(String.fromCharCode(...new TextEncoder().encode(`${user}:${password}`)));
}

/** Waits until `cond` holds, polling; throws after `timeoutMs`. */
export async function waitFor(
  cond: () => boolean,
  timeoutMs = 3000,
  what = "condition",
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Runs `fn` and returns the warning (and worse) log lines it wrote. */
export function captureWarnings(fn: () => void): string[] {
  const lines: string[] = [];
  const before = configureLog({ level: "warn", write: (line) => lines.push(line) });
  try {
    fn();
  } finally {
    configureLog(before);
  }
  return lines;
}
