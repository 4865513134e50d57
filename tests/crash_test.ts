import assert from "node:assert/strict";
import { stringify } from "yaml";
import { type Line, publish, StreamClient, testConfig, writeFiles } from "./helpers.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;

/** Starts main.ts as a child process and resolves with it and its port. */
async function spawnServer(config: string): Promise<{ child: Deno.ChildProcess; url: string }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-net",
      "--allow-read",
      "--allow-write",
      "--allow-env",
      MAIN,
      "--config",
      config,
      "--acl",
      "/nonexistent",
    ],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  let seen = "";
  while (!/listening for HTTP .*port=\d+/.test(seen)) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`server exited early:\n${seen}`);
    seen += value;
  }
  // Keep draining stderr so the child never blocks on a full pipe.
  (async () => {
    while (!(await reader.read()).done);
  })();
  return { child, url: `http://127.0.0.1:${/port=(\d+)/.exec(seen)![1]}` };
}

async function replayAll(url: string, expected: number): Promise<Line[]> {
  const sub = await StreamClient.open(`${url}/crash`, { headers: { "X-Fetch-Since": "0" } });
  const lines: Line[] = [];
  try {
    for (let i = 0; i < expected; i++) lines.push(await sub.next(3000));
    await sub.expectSilence(300);
  } finally {
    await sub.close();
  }
  return lines;
}

async function crashAndRestart(sync: boolean): Promise<void> {
  const files = await writeFiles();
  const storage = `${files.dir}/history.log`;
  await Deno.writeTextFile(
    files.config,
    stringify(testConfig({ server: { backlog: { size: 1000, storage, sync } } })),
  );
  let server = await spawnServer(files.config);
  try {
    for (let i = 0; i < 50; i++) assert.equal(await publish(`${server.url}/crash`, { i }), 202);
    await new Promise((r) => setTimeout(r, 1200));
    const late = sync ? 20 : 0;
    for (let i = 50; i < 50 + late; i++) {
      assert.equal(await publish(`${server.url}/crash`, { i }), 202);
    }
    server.child.kill("SIGKILL");
    await server.child.status;

    server = await spawnServer(files.config);
    const lines = await replayAll(server.url, 50 + late);
    assert.deepEqual(lines.map((l) => l.i), Array.from({ length: 50 + late }, (_, i) => i));
  } finally {
    server.child.kill("SIGTERM");
    await server.child.status;
    await files.cleanup();
  }
}

Deno.test("kill -9 keeps every event acknowledged more than 1 s before the kill", async () => {
  await crashAndRestart(false);
});

Deno.test("with backlog.sync, kill -9 keeps every acknowledged event", async () => {
  await crashAndRestart(true);
});
