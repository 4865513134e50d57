/**
 * The viewer page in a real headless Chromium (Debian's `chromium`, driven by
 * `npm:playwright-core` in tests/fixtures/viewer_driver.ts): it shows a published event,
 * and after a server restart it reconnects with `Last-Event-ID` and shows the events
 * published meanwhile. The screenshot is kept in tests/artifacts/.
 */

import assert from "node:assert/strict";
import { App, startApp } from "../lib/app.ts";
import { ENGINES, publish, withEngine, writeFiles } from "./helpers.ts";
import { requireProgram } from "./programs.ts";

const DRIVER = new URL("./fixtures/viewer_driver.ts", import.meta.url).pathname;
const ARTIFACTS = new URL("./artifacts/", import.meta.url).pathname;

/** Splits a text stream into lines. */
function lineSplitter(): TransformStream<string, string> {
  let rest = "";
  return new TransformStream({
    transform(chunk, controller) {
      const parts = (rest + chunk).split("\n");
      rest = parts.pop()!;
      for (const line of parts) controller.enqueue(line);
    },
  });
}

for (const engine of ENGINES) {
  Deno.test(`the viewer shows events live and after a server restart, in Chromium [${engine}]`, async () => {
    const data = await Deno.makeTempDir({ prefix: "denopubsub-viewer-" });
    const storage = { backlog: { size: 100, storage: `${data}/history.log` } };
    const first = await writeFiles(withEngine({ server: storage }, engine));
    let app: App | null = await startApp(first);
    const port = app.server.port;
    const url = `http://127.0.0.1:${port}`;
    const second = await writeFiles(withEngine({ server: { ...storage, port } }, engine));
    await Deno.mkdir(ARTIFACTS, { recursive: true });
    requireProgram("chromium");
    const driver = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", DRIVER, `${url}/git`, `${ARTIFACTS}viewer-${engine}.png`],
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    const lines = driver.stdout.pipeThrough(new TextDecoderStream())
      .pipeThrough(lineSplitter()).getReader();
    const expect = async (step: string) => {
      const { value, done } = await lines.read();
      assert.ok(!done, `the driver ended before "${step}"`);
      assert.equal(value, step);
    };
    try {
      await expect("live");
      await publish(`${url}/git/denopubsub`, { commit: "a1b2c3", author: "alice" });
      await expect("shown");
      await app.stop();
      await expect("down");
      app = await startApp(second);
      await publish(`${url}/git/denopubsub`, { commit: "d4e5f6", author: "bob" });
      await publish(`${url}/git/denopubsub`, { commit: "0789ab", author: "carol" });
      const { value } = await lines.read();
      const result = JSON.parse(value ?? "null");
      assert.deepEqual(result.commits, ["0789ab", "d4e5f6", "a1b2c3"], "newest first, no gap");
      assert.equal(result.visible, 1, "the filter hides the others");
      assert.equal(result.topics, "/git");
      assert.ok((await driver.status).success);
    } finally {
      await lines.cancel().catch(() => {});
      try {
        driver.kill();
      } catch {
        // Already exited.
      }
      await driver.status;
      await app?.stop();
      await first.cleanup();
      await second.cleanup();
      await Deno.remove(data, { recursive: true });
    }
  });
}
