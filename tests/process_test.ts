import assert from "node:assert/strict";
import { stringify } from "yaml";
import type { EngineName } from "../lib/config.ts";
import {
  type ConfigPatch,
  engineTest,
  publish,
  StreamClient,
  testConfig,
  withEngine,
  writeFiles,
} from "./helpers.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;
const PERMISSIONS = ["--allow-net", "--allow-read", "--allow-write", "--allow-env"];

/** main.ts running as a child process, with its log lines collected. */
class Child {
  readonly lines: string[] = [];
  #process: Deno.ChildProcess;
  #reading: Promise<void>;
  #waiters: { pattern: RegExp; resolve: (line: string) => void }[] = [];

  constructor(args: string[]) {
    this.#process = new Deno.Command(Deno.execPath(), {
      args: ["run", ...PERMISSIONS, MAIN, ...args],
      stdout: "piped",
      stderr: "piped",
      stdin: "null",
    }).spawn();
    this.#reading = Promise.all([
      this.#read(this.#process.stdout),
      this.#read(this.#process.stderr),
    ]).then(() => {});
  }

  async #read(stream: ReadableStream<Uint8Array>): Promise<void> {
    let rest = "";
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      const parts = (rest + chunk).split("\n");
      rest = parts.pop()!;
      for (const line of parts) this.#add(line);
    }
    if (rest) this.#add(rest);
  }

  #add(line: string): void {
    this.lines.push(line);
    this.#waiters = this.#waiters.filter((w) => !w.pattern.test(line) || (w.resolve(line), false));
  }

  /** Resolves with the first line (past or future) matching `pattern`. */
  waitLine(pattern: RegExp, timeoutMs = 10_000): Promise<string> {
    const seen = this.lines.find((l) => pattern.test(l));
    if (seen) return Promise.resolve(seen);
    const { promise, resolve, reject } = Promise.withResolvers<string>();
    const timer = setTimeout(
      () => reject(new Error(`no line matching ${pattern}; got:\n${this.lines.join("\n")}`)),
      timeoutMs,
    );
    this.#waiters.push({
      pattern,
      resolve: (line) => {
        clearTimeout(timer);
        resolve(line);
      },
    });
    return promise.finally(() => clearTimeout(timer));
  }

  kill(signal: Deno.Signal): void {
    this.#process.kill(signal);
  }

  /** Waits for the exit; returns the exit code. */
  async exit(): Promise<number> {
    const status = await this.#process.status;
    await this.#reading;
    return status.code;
  }
}

async function startChild(engine: EngineName, patch: ConfigPatch = {}) {
  const files = await writeFiles(withEngine(patch, engine));
  const child = new Child(["--config", files.config, "--acl", files.acl]);
  const line = await child.waitLine(/listening for HTTP .*port=(\d+)/);
  const port = Number(/port=(\d+)/.exec(line)![1]);
  return { child, files, port, url: `http://127.0.0.1:${port}` };
}

Deno.test("main.ts --help and --version print and exit 0", async () => {
  for (const flag of ["--help", "--version"]) {
    const child = new Child([flag]);
    assert.equal(await child.exit(), 0);
    assert.match(child.lines.join("\n"), flag === "--help" ? /--config FILE/ : /^\d+\.\d+\.\d+$/m);
  }
});

Deno.test("main.ts exits non-zero with one line for a missing or invalid config", async () => {
  const missing = new Child(["--config", "/nonexistent/pubsub.yaml"]);
  assert.equal(await missing.exit(), 1);
  assert.match(
    missing.lines.join("\n"),
    /\/nonexistent\/pubsub\.yaml: cannot read: file not found/,
  );
  assert.equal(missing.lines.filter((l) => l.includes("ERROR")).length, 1);

  const files = await writeFiles({ server: { port: "two thousand" } });
  const invalid = new Child(["--config", files.config]);
  assert.equal(await invalid.exit(), 1);
  assert.match(invalid.lines.join("\n"), /pubsub\.yaml: server\.port: must be a whole number/);
  assert.ok(!invalid.lines.some((l) => /^\s+at /.test(l)), "no stack trace");
  await files.cleanup();

  const unknownFlag = new Child(["--nope"]);
  assert.equal(await unknownFlag.exit(), 2);
});

engineTest("main.ts runs without an ACL file and says so", async (t) => {
  const { child, files, url } = await startChild(t.engine);
  assert.match(child.lines.join("\n"), /ACL file not found; private events will reach nobody/);
  assert.equal((await fetch(url, { method: "HEAD" })).status, 204);
  child.kill("SIGTERM");
  assert.equal(await child.exit(), 0);
  await files.cleanup();
});

engineTest("SIGHUP reloads the allow-list and keeps open streams", async (t) => {
  const { child, files, port, url } = await startChild(t.engine, {
    clients: { payloaders: ["127.0.0.1/32"] },
  });
  const sub = await StreamClient.open(`${url}/t`);
  try {
    assert.equal(await publish(`${url}/t`, { n: 1 }), 202);
    assert.equal((await sub.next()).n, 1);

    const patch = { server: { port, engine: t.engine }, clients: { payloaders: ["10.0.0.0/8"] } };
    await Deno.writeTextFile(files.config, stringify(testConfig(patch)));
    child.kill("SIGHUP");
    await child.waitLine(/settings reloaded/);
    assert.equal(await publish(`${url}/t`, { n: 2 }), 403);

    await Deno.writeTextFile(files.config, "server: [broken");
    child.kill("SIGHUP");
    await child.waitLine(/reload refused, running settings kept.*not valid YAML/);
    assert.equal(await publish(`${url}/t`, { n: 3 }), 403);

    const back = { server: { port, engine: t.engine }, clients: { payloaders: ["127.0.0.0/8"] } };
    await Deno.writeTextFile(files.config, stringify(testConfig(back)));
    child.kill("SIGHUP");
    await waitReloads(child, 2);
    assert.equal(await publish(`${url}/t`, { n: 4 }), 202);
    assert.equal((await sub.next()).n, 4, "the stream opened before the reloads still works");
  } finally {
    await sub.close();
    child.kill("SIGTERM");
    assert.equal(await child.exit(), 0);
    await files.cleanup();
  }
});

async function waitReloads(child: Child, count: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (child.lines.filter((l) => l.includes("settings reloaded")).length < count) {
    if (Date.now() > deadline) throw new Error("reload did not happen");
    await new Promise((r) => setTimeout(r, 20));
  }
}

engineTest("SIGTERM ends every stream and exits 0", async (t) => {
  const { child, files, url } = await startChild(t.engine);
  const subs = await Promise.all([1, 2, 3].map(() => StreamClient.open(`${url}/t`)));
  const started = Date.now();
  child.kill("SIGTERM");
  for (const sub of subs) assert.ok(await sub.ended(), "stream ended cleanly");
  assert.equal(await child.exit(), 0);
  assert.ok(Date.now() - started < 5000);
  await Promise.all(subs.map((s) => s.close()));
  const refused = await fetch(url).then(() => false, () => true);
  assert.ok(refused, "no longer accepting connections");
  await files.cleanup();
});
