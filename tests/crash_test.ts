import assert from "node:assert/strict";
import type { EngineName } from "../lib/config.ts";
import { listen } from "./child.ts";
import {
  engineTest,
  type Line,
  publish,
  StreamClient,
  testConfig,
  withEngine,
  writeFiles,
} from "./helpers.ts";
import { stringify } from "yaml";

async function replayAll(url: string, expected: number): Promise<Line[]> {
  await using sub = await StreamClient.open(`${url}/crash`, {
    headers: { "X-Fetch-Since": "0" },
  });
  const lines: Line[] = [];
  for (let i = 0; i < expected; i++) lines.push(await sub.next(3000));
  await sub.expectSilence(300);
  return lines;
}

async function crashAndRestart(engine: EngineName, sync: boolean): Promise<void> {
  const files = await writeFiles();
  try {
    const storage = `${files.dir}/history.log`;
    const patch = withEngine({ server: { backlog: { size: 1000, storage, sync } } }, engine);
    await Deno.writeTextFile(files.config, stringify(testConfig(patch)));
    const late = sync ? 20 : 0;
    {
      await using server = await listen(files);
      for (let i = 0; i < 50; i++) assert.equal(await publish(`${server.url}/crash`, { i }), 202);
      await new Promise((r) => setTimeout(r, 1200));
      for (let i = 50; i < 50 + late; i++) {
        assert.equal(await publish(`${server.url}/crash`, { i }), 202);
      }
      server.child.kill("SIGKILL");
      await server.child.exit();
    }
    await using server = await listen(files);
    const lines = await replayAll(server.url, 50 + late);
    assert.deepEqual(lines.map((l) => l.i), Array.from({ length: 50 + late }, (_, i) => i));
    server.child.kill("SIGTERM");
    assert.equal(await server.child.exit(), 0);
  } finally {
    await files.cleanup();
  }
}

engineTest(
  "kill -9 keeps every event acknowledged more than 1 s before the kill",
  (t) => crashAndRestart(t.engine, false),
);

engineTest(
  "with backlog.sync, kill -9 keeps every acknowledged event",
  (t) => crashAndRestart(t.engine, true),
);
