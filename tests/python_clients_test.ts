/**
 * The two ways real PyPubSub clients read a stream, run as Python programs against the
 * server (`tests/clients/`): aiohttp reading line by line, which must survive a restart,
 * and requests parsing each HTTP chunk as one JSON document, which must lose nothing.
 * They need Debian's python3-aiohttp and python3-requests.
 */

import assert from "node:assert/strict";
import { engineTest, publish, type TestServer, waitFor } from "./helpers.ts";
import { requirePython } from "./programs.ts";
const CLIENTS = new URL("./clients/", import.meta.url).pathname;

type Output = Record<string, unknown>;

/** A Python client as a child process; each line it prints is parsed as it arrives. */
class PythonClient {
  readonly output: Output[] = [];
  /** Set once the client has exited. */
  exited = false;
  #stderr = "";
  readonly #child: Deno.ChildProcess;
  readonly #reading: Promise<void>;

  private constructor(python: string, script: string, args: string[]) {
    this.#child = new Deno.Command(python, {
      args: [CLIENTS + script, ...args],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#reading = Promise.all([this.#readLines(), this.#readErrors()]).then(() => {});
    this.#child.status.then(() => this.exited = true);
  }

  /** Starts `script` with Debian's python3, once it has shown it has aiohttp and requests. */
  static async start(script: string, args: string[]): Promise<PythonClient> {
    return new PythonClient(await requirePython("aiohttp", "requests"), script, args);
  }

  async #readLines(): Promise<void> {
    let rest = "";
    for await (const text of this.#child.stdout.pipeThrough(new TextDecoderStream())) {
      const lines = (rest + text).split("\n");
      rest = lines.pop()!;
      for (const line of lines) this.output.push(JSON.parse(line) as Output);
    }
  }

  async #readErrors(): Promise<void> {
    for await (const text of this.#child.stderr.pipeThrough(new TextDecoderStream())) {
      this.#stderr += text;
    }
  }

  /** The events printed so far. */
  events(): Output[] {
    return this.output.flatMap((line) => line.event ? [line.event as Output] : []);
  }

  /** How many lines printed so far have `key`. */
  count(key: string): number {
    return this.output.filter((line) => key in line).length;
  }

  /**
   * Waits until `cond` holds; fails, with what the client printed, when it does not in
   * time or the client exits first.
   */
  async until(cond: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
    try {
      await waitFor(() => cond() || this.exited, timeoutMs, what);
      if (!cond()) throw new Error(`the client exited while waiting for ${what}`);
    } catch (err) {
      throw new Error(`${(err as Error).message}; client printed:\n${this.printed()}`);
    }
  }

  /** Lines the client reported dropped (chunks it could not parse). */
  dropped(): number {
    return this.output.reduce((sum, line) => sum + ((line.dropped as number | undefined) ?? 0), 0);
  }

  /** Waits for the exit (killing the client after `timeoutMs`); returns the exit code. */
  async exit(timeoutMs = 15_000): Promise<number> {
    const timer = setTimeout(() => this.kill(), timeoutMs);
    try {
      const status = await this.#child.status;
      await this.#reading;
      return status.code;
    } finally {
      clearTimeout(timer);
    }
  }

  kill(): void {
    try {
      this.#child.kill("SIGKILL");
    } catch {
      // Already exited.
    }
  }

  /** Everything the client printed, for failure messages. */
  printed(): string {
    return this.output.map((line) => JSON.stringify(line)).concat(this.#stderr).join("\n");
  }
}

/** Small events: a chunk of up to 1 KB could hold several. */
function event(i: number): Record<string, unknown> {
  return { i, note: "n".repeat(40) };
}

engineTest("an aiohttp readuntil reader survives a server restart and reconnects", async (t) => {
  let srv: TestServer | null = await t.start();
  const port = srv.app.server.port;
  const url = `http://127.0.0.1:${port}/t`;
  const client = await PythonClient.start("line_reader.py", [url, "2", "30"]);
  try {
    await client.until(() => srv!.app.server.hub.size === 1, "the reader to subscribe");
    assert.equal(await publish(url, event(1)), 202);
    await client.until(() => client.events().length === 1, "the first event");

    await srv.close();
    srv = null;
    srv = await t.start({ server: { port } });
    await client.until(() => client.count("connected") === 2, "the reader to reconnect");
    await client.until(() => srv!.app.server.hub.size === 1, "the reader to subscribe again");
    assert.equal(await publish(url, event(2)), 202);

    assert.equal(await client.exit(), 0, client.printed());
    assert.deepEqual(client.events().map((e) => e.i), [1, 2]);
    const reconnects = client.output.flatMap((line) => line.reconnect ?? []);
    assert.equal(reconnects[0], "ClientPayloadError", "the stream was cut, not ended");
  } finally {
    client.kill();
    await client.exit();
    await srv?.close();
  }
});

engineTest(
  "a requests reader that parses each chunk as a document gets every event of a replay and a burst",
  async (t) => {
    const retained = 40;
    const burst = 120;
    const publishers = 6;
    const srv = await t.start({ server: { backlog: { size: 1000 } } });
    const url = `${srv.url}/t`;
    let client: PythonClient | null = null;
    try {
      for (let i = 0; i < retained; i++) assert.equal(await publish(url, event(i)), 202);
      client = await PythonClient.start("chunk_reader.py", [
        url,
        String(retained + burst),
        "30",
        "0",
      ]);
      const reader = client;
      await reader.until(() => srv.app.server.hub.size === 1, "the reader to subscribe");
      await Promise.all(Array.from({ length: publishers }, async (_, p) => {
        for (let i = retained + p; i < retained + burst; i += publishers) {
          assert.equal(await publish(url, event(i)), 202);
        }
      }));

      const total = retained + burst;
      await reader.until(() => reader.events().length + reader.dropped() >= total, "every line");
      assert.equal(reader.dropped(), 0, `chunks with several lines:\n${reader.printed()}`);
      assert.equal(await reader.exit(), 0, reader.printed());
      const got = reader.events().map((e) => e.i as number);
      assert.deepEqual(got.slice(0, retained), [...Array(retained).keys()], "the replay, in order");
      const all = Array.from({ length: retained + burst }, (_, i) => i);
      assert.deepEqual(got.toSorted((a, b) => a - b), all, "every event once");
    } finally {
      client?.kill();
      await client?.exit();
      await srv.close();
    }
  },
);
