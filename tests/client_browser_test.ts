/**
 * The client library in headless Chromium: bundled with `deno bundle`, loaded by a page
 * on the server's own origin, it subscribes and publishes with the browser's fetch, and
 * keeps every event exactly once across a server restart.
 */

import assert from "node:assert/strict";
import { startApp } from "../lib/app.ts";
import { durableFiles } from "./client_helpers.ts";
import type { EngineName } from "../lib/config.ts";
import { ENGINES, publish, withEngine } from "./helpers.ts";
import { Browser } from "./fixtures/browser.ts";

/** The page: subscribes to /t, publishes once, and keeps what it saw in `window`. */
const PAGE = `<!doctype html>
<script type="module">
import { publish, subscribe } from "/__client.js";
window.seen = [];
window.states = [];
const stop = new AbortController();
window.stopSubscription = () => stop.abort();
window.publishFromPage = (n) => publish(location.origin + "/t", { n }, { minDelayMs: 50 });
(async () => {
  const events = subscribe(location.origin + "/t", {
    signal: stop.signal,
    minDelayMs: 50,
    maxDelayMs: 400,
    onState: (state) => window.states.push(state.type + ":" + (state.cursor ?? "")),
  });
  for await (const event of events) window.seen.push(event.n);
})();
</script>`;

/** Writes `client/mod.ts` as one browser module to DIR/client.js. */
async function bundleClient(dir: string): Promise<void> {
  const output = `${dir}/client.js`;
  const result = await new Deno.Command(Deno.execPath(), {
    args: ["bundle", "--platform", "browser", "--output", output, "client/mod.ts"],
    cwd: new URL("..", import.meta.url),
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(result.success, new TextDecoder().decode(result.stderr));
}

Deno.test("the client library runs in Chromium and resumes across a server restart", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "denopubsub-browser-" });
  await bundleClient(dir);
  await Deno.writeTextFile(`${dir}/page.html`, PAGE);
  const browser = await Browser.launch(`${dir}/page.html`, `${dir}/client.js`);
  try {
    for (const engine of ENGINES) {
      await t.step(engine, () => restartUnderPage(browser, engine));
    }
  } finally {
    await browser.close();
    await Deno.remove(dir, { recursive: true });
  }
});

/** A page subscribed to a server that restarts sees every event once, in order. */
async function restartUnderPage(browser: Browser, engine: EngineName): Promise<void> {
  const files = await durableFiles(withEngine({}, engine));
  const url = `http://127.0.0.1:${files.port}`;
  let app = await startApp(files);
  try {
    await browser.open(url);
    await browser.until("window.states?.some((s) => s.startsWith('connected')) ?? false");

    for (let n = 1; n <= 3; n++) assert.equal(await publish(`${url}/t`, { n }), 202);
    await browser.eval("window.publishFromPage(4)");
    await browser.until("window.seen.length === 4");

    await app.stop();
    app = await startApp(files);
    for (let n = 5; n <= 7; n++) assert.equal(await publish(`${url}/t`, { n }), 202);
    await browser.until("window.seen.length >= 7");
    await browser.eval("window.stopSubscription()");

    assert.deepEqual(await browser.eval("window.seen"), [1, 2, 3, 4, 5, 6, 7]);
    const states = await browser.eval("window.states") as string[];
    assert.ok(states.includes("disconnected:"), states.join(" "));
    assert.ok(
      states.some((s) => /^connecting:[0-9a-f-]{36}$/.test(s)),
      `resumed from a cursor: ${states.join(" ")}`,
    );
  } finally {
    await app.stop();
    await files.cleanup();
  }
}
