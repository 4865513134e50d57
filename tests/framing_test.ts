/**
 * Framing that real clients depend on, read off the wire: every line (event or keepalive,
 * with its `\0` for oldschool clients) is exactly one HTTP chunk, and a stream the server
 * ends is cut, never closed with the chunked body's last chunk.
 */

import assert from "node:assert/strict";
import type { EngineName } from "../lib/config.ts";
import { ChunkedClient, FAST, notOneLine, type ReadPace } from "./chunked_client.ts";
import {
  type EngineContext,
  engineTest,
  publish,
  waitFor,
  withEngine,
  writeFiles,
} from "./helpers.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;

/** Events retained before anyone subscribes, then published in one burst. */
const RETAINED = 30;
const BURST = 150;
const PUBLISHERS = 6;

/** Small events: `Deno.serve` sends up to 1 KB of queued lines as one chunk. */
function event(i: number): Record<string, unknown> {
  return { i, note: "n".repeat(40) };
}

function assertOneLinePerChunk(client: ChunkedClient, name: string, oldschool = false): void {
  assert.equal(client.error, null, `${name}: ${client.error}`);
  client.chunks.forEach((chunk, n) => {
    const wrong = notOneLine(chunk, oldschool);
    assert.equal(wrong, null, `${name}: chunk ${n} ${wrong}: ${JSON.stringify(chunk)}`);
  });
}

function numbers(client: ChunkedClient): number[] {
  return client.events().map((line) => JSON.parse(line).i as number);
}

/** Whether `promise` settles within `ms`. */
async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<boolean>((resolve) => timer = setTimeout(resolve, ms, false));
  try {
    return await Promise.race([promise.then(() => true, () => true), late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Publishes `from`..`to`-1 from several connections at once, so events arrive together. */
async function burst(url: string, from: number, to: number): Promise<void> {
  await Promise.all(Array.from({ length: PUBLISHERS }, async (_, p) => {
    for (let i = from + p; i < to; i += PUBLISHERS) {
      assert.equal(await publish(url, event(i)), 202);
    }
  }));
}

/**
 * Replays and bursts to slow, stalled, oldschool and fast readers; `server` adds to the
 * config. With the head and idle timeouts off the `deno` engine runs on `Deno.serve`,
 * whose merging of small lines the engine paces; with them on, on `Deno.serveHttp`.
 */
function replayAndBurst(server: Record<string, unknown>) {
  return async (t: EngineContext) => {
    const srv = await t.start({ server: { backlog: { size: 1000 }, ...server } });
    const port = srv.app.server.port;
    const since = { "X-Fetch-Since": "0" };
    const readers: [string, ChunkedClient, ReadPace | null, boolean][] = [];
    try {
      for (let i = 0; i < RETAINED; i++) assert.equal(await publish(`${srv.url}/t`, event(i)), 202);
      const open = async (name: string, headers: Record<string, string>, pace: ReadPace | null) => {
        const oldschool = headers["User-Agent"] === "svnwcsub";
        readers.push([name, await ChunkedClient.request(port, "/t", headers), pace, oldschool]);
      };
      await open("slow replay", since, { readSize: 97, pauseMs: 2 });
      await open("oldschool replay", { ...since, "User-Agent": "svnwcsub" }, {
        readSize: 64,
        pauseMs: 1,
      });
      await open("stalled replay", since, null);
      await open("slow live", {}, { readSize: 128, pauseMs: 3 });
      await open("fast live", {}, FAST);
      await waitFor(() => srv.app.server.hub.size === readers.length, 3000, "every subscriber");
      for (const [, client, pace] of readers) if (pace) client.resume(pace);

      await burst(`${srv.url}/t`, RETAINED, RETAINED + BURST);
      for (const [name, client, pace, oldschool] of readers) {
        if (!pace) client.resume(FAST);
        const replayed = name.endsWith("replay");
        await client.waitEvents(replayed ? RETAINED + BURST : BURST);
        assertOneLinePerChunk(client, name, oldschool);
        const got = numbers(client);
        const from = replayed ? 0 : RETAINED;
        if (replayed) {
          assert.deepEqual(got.slice(0, RETAINED), [...Array(RETAINED).keys()], name);
        }
        const all = Array.from({ length: RETAINED + BURST - from }, (_, k) => from + k);
        assert.deepEqual(got.toSorted((a, b) => a - b), all, `${name}: every event once`);
      }
    } finally {
      await Promise.all(readers.map(([, client]) => client.close()));
      await srv.close();
    }
  };
}

engineTest(
  "every chunk of a replay and of a burst is exactly one line, for slow readers too",
  replayAndBurst({}),
);

engineTest(
  "every chunk is exactly one line with the head and idle timeouts off (Deno.serve)",
  replayAndBurst({ timeouts: { head: 0, idle: 0 } }),
);

engineTest("a slow subscriber's stream is cut, not ended with the last chunk", async (t) => {
  const srv = await t.start({ server: { max_queued_bytes: 65536, max_payload_size: 10000 } });
  const stalled = await ChunkedClient.request(srv.app.server.port, "/t");
  try {
    await waitFor(() => srv.app.server.hub.size === 1, 3000, "the subscriber");
    // Loopback buffers take a few MiB before the server's queue grows; bounded.
    const pad = "x".repeat(4000);
    const deadline = Date.now() + 30_000;
    for (let i = 0; srv.app.server.metrics.evictedSlow.value === 0; i++) {
      assert.ok(i < 20_000 && Date.now() < deadline, "the stalled subscriber was never evicted");
      assert.equal(await publish(`${srv.url}/t`, { i, pad }), 202);
    }
    stalled.resume(FAST);
    await stalled.waitClosed(20_000);
    assert.ok(!stalled.lastChunk, "the body must not end with the last chunk");
    assertOneLinePerChunk(stalled, "evicted");
  } finally {
    await stalled.close();
    await srv.close();
  }
});

engineTest("shutdown is quick and cuts a stream whose socket is full", async (t) => {
  const srv = await t.start({ server: { max_queued_bytes: 64 << 20, max_payload_size: 10000 } });
  const stalled = await ChunkedClient.request(srv.app.server.port, "/t");
  let running = true;
  try {
    await waitFor(() => srv.app.server.hub.size === 1, 3000, "the subscriber");
    let queued = () => 0;
    srv.app.server.hub.forEach((sub) => queued = () => sub.queuedBytes);
    // Loopback buffers take a few MiB; once the server queues, the socket is full. Bounded.
    const pad = "x".repeat(4000);
    const deadline = Date.now() + 30_000;
    for (let i = 0; queued() === 0; i++) {
      assert.ok(i < 20_000 && Date.now() < deadline, "the socket never filled up");
      assert.equal(await publish(`${srv.url}/t`, { i, pad }), 202);
    }
    const closing = srv.close();
    running = false;
    const quick = await settlesWithin(closing, 5000);
    // Reading lets a server that waits for this client finish, so the test cannot hang.
    stalled.resume(FAST);
    await closing;
    assert.ok(quick, "shutdown waited for a client that does not read");
    await stalled.waitClosed(20_000);
    assert.ok(!stalled.lastChunk, "the body must not end with the last chunk");
    assertOneLinePerChunk(stalled, "stalled");
  } finally {
    await stalled.close();
    if (running) await srv.close();
  }
});

/** main.ts as a child process; its log (stderr) is collected for the port. */
async function startMain(engine: EngineName) {
  const files = await writeFiles(withEngine({}, engine));
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-net", "--allow-read", "--allow-write", "--allow-env", MAIN]
      .concat(["--config", files.config, "--acl", files.acl]),
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let log = "";
  const reading = child.stderr.pipeThrough(new TextDecoderStream()).pipeTo(
    new WritableStream({ write: (text) => void (log += text) }),
  );
  const port = () => Number(/listening for HTTP .*port=(\d+)/.exec(log)?.[1] ?? 0);
  try {
    await waitFor(() => port() > 0, 10_000, "main.ts to listen");
  } catch (err) {
    child.kill("SIGKILL");
    await Promise.all([child.status, reading, files.cleanup()]);
    throw new Error(`${(err as Error).message}; log:\n${log}`);
  }
  return { child, files, port: port(), reading, log: () => log };
}

engineTest("SIGTERM cuts a stream after its last whole line: no last chunk", async (t) => {
  const main = await startMain(t.engine);
  const client = await ChunkedClient.request(main.port, "/t");
  try {
    client.resume(FAST);
    await waitFor(() => client.chunks.length > 0, 3000, "the first keepalive");
    assert.equal(await publish(`http://127.0.0.1:${main.port}/t`, event(1)), 202);
    await client.waitEvents(1);
    main.child.kill("SIGTERM");
    await client.waitClosed(5000);
    assert.equal((await main.child.status).code, 0, main.log());
    assert.ok(!client.lastChunk, "the body must not end with the last chunk");
    assert.equal(client.partial, 0, "whole chunks only");
    assertOneLinePerChunk(client, "stream");
    assert.deepEqual(numbers(client), [1]);
  } finally {
    await client.close();
    try {
      main.child.kill("SIGKILL");
    } catch {
      // Already exited, as it should have.
    }
    await Promise.all([main.child.status, main.reading]);
    await main.files.cleanup();
  }
});
