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
import { requireProgram } from "./programs.ts";

const DRIVER = new URL("./fixtures/page_driver.ts", import.meta.url).pathname;

/** Chromium pages run by `fixtures/page_driver.ts`, opened and evaluated on request. */
class Browser {
  readonly #child: Deno.ChildProcess;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  readonly #lines: ReadableStreamDefaultReader<string>;
  #rest = "";

  private constructor(child: Deno.ChildProcess) {
    this.#child = child;
    this.#writer = child.stdin.getWriter();
    this.#lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  }

  /** Launches Chromium; pages show `pageFile`, with `scriptFile` at /__client.js. */
  static async launch(pageFile: string, scriptFile: string): Promise<Browser> {
    requireProgram("chromium");
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", DRIVER, pageFile, scriptFile],
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    const browser = new Browser(child);
    const hello = await browser.#next();
    if (!hello.ready) throw new Error(`the page driver did not start: ${JSON.stringify(hello)}`);
    return browser;
  }

  async #next(): Promise<Record<string, unknown>> {
    while (!this.#rest.includes("\n")) {
      const { value, done } = await this.#lines.read();
      if (done) throw new Error("the page driver exited");
      this.#rest += value;
    }
    const end = this.#rest.indexOf("\n");
    const line = this.#rest.slice(0, end);
    this.#rest = this.#rest.slice(end + 1);
    return JSON.parse(line);
  }

  async #run(command: { open: string } | { eval: string }): Promise<unknown> {
    await this.#writer.write(new TextEncoder().encode(JSON.stringify(command) + "\n"));
    const reply = await this.#next();
    if ("error" in reply) throw new Error(`${JSON.stringify(command)}: ${reply.error}`);
    return reply.value;
  }

  /** Opens a new page at ORIGIN/__page.html; later expressions run there. */
  async open(origin: string): Promise<void> {
    await this.#run({ open: origin });
  }

  /** The value of a JavaScript expression in the page opened last. */
  eval(expression: string): Promise<unknown> {
    return this.#run({ eval: expression });
  }

  /** Waits until `expression` is true in the page. */
  async until(expression: string, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (await this.eval(expression) !== true) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${expression}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Closes the browser and waits for the driver to exit. */
  async close(): Promise<void> {
    await this.#writer.close().catch(() => {});
    await this.#lines.cancel().catch(() => {});
    await this.#child.status;
  }
}

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
