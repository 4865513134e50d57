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
import { CREDENTIALS, Emulator, REGION } from "./sqs_emulator.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;
const PERMISSIONS = ["--allow-net", "--allow-read", "--allow-write", "--allow-env"];

/** main.ts running as a child process, with its log lines collected. */
class Child {
  readonly lines: string[] = [];
  #process: Deno.ChildProcess;
  #reading: Promise<void>;
  #waiters: { pattern: RegExp; resolve: (line: string) => void }[] = [];

  constructor(args: string[], permissions: string[] = PERMISSIONS) {
    this.#process = new Deno.Command(Deno.execPath(), {
      args: ["run", ...permissions, MAIN, ...args],
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

  const ldap = await writeFiles({ clients: { ldap: { uri: "ldap://127.0.0.1:1" } } });
  const badLdap = new Child(["--config", ldap.config]);
  assert.equal(await badLdap.exit(), 1);
  assert.match(badLdap.lines.join("\n"), /pubsub\.yaml: clients\.ldap\.user_dn: must be/);
  assert.equal(badLdap.lines.filter((l) => l.includes("ERROR")).length, 1);
  await ldap.cleanup();

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

engineTest("SIGTERM cuts every stream and exits 0", async (t) => {
  const { child, files, url } = await startChild(t.engine);
  const subs = await Promise.all([1, 2, 3].map(() => StreamClient.open(`${url}/t`)));
  const started = Date.now();
  child.kill("SIGTERM");
  for (const sub of subs) assert.ok(await sub.cut(), "stream cut, not ended cleanly");
  assert.equal(await child.exit(), 0);
  assert.ok(Date.now() - started < 5000);
  await Promise.all(subs.map((s) => s.close()));
  const refused = await fetch(url).then(() => false, () => true);
  assert.ok(refused, "no longer accepting connections");
  await files.cleanup();
});

Deno.test("--log-format json logs subscribes, rejections, reloads and evictions as JSON", async () => {
  const files = await writeFiles({ server: { max_queued_bytes: 1024 } });
  const args = ["--config", files.config, "--acl", files.acl];
  const child = new Child([...args, "--log-format", "json", "--log-level", "debug"]);
  const port = JSON.parse(await child.waitLine(/"msg":"listening for HTTP"/)).port;
  const url = `http://127.0.0.1:${port}`;
  const stalled = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    const sub = await StreamClient.open(`${url}/t`);
    await sub.close();
    await child.waitLine(/"msg":"unsubscribed"/);
    assert.equal(await publish(`${url}/t`, "[1]"), 400);
    await child.waitLine(/"msg":"request refused"/);
    child.kill("SIGHUP");
    await child.waitLine(/"msg":"settings reloaded"/);

    // A subscriber that never reads: loopback buffers take a few MiB before it is evicted.
    await stalled.write(new TextEncoder().encode("GET /t HTTP/1.1\r\nHost: x\r\n\r\n"));
    const evicted = () => child.lines.some((l) => l.includes('"subscriber too slow'));
    await child.waitLine(/"msg":"subscribed".*"topics":"t"/);
    const pad = "x".repeat(8000);
    const deadline = Date.now() + 20_000;
    for (let i = 0; !evicted() && i < 5000 && Date.now() < deadline; i++) {
      await publish(`${url}/t`, { i, pad });
    }
    await child.waitLine(/"msg":"subscriber too slow, disconnected"/);
  } finally {
    stalled.close();
    child.kill("SIGTERM");
    assert.equal(await child.exit(), 0);
    await files.cleanup();
  }
  const lines = child.lines.map((line) => JSON.parse(line) as Record<string, unknown>);
  const levelOf = (msg: string) => lines.find((l) => l.msg === msg)?.level;
  assert.equal(levelOf("subscribed"), "debug");
  assert.equal(levelOf("unsubscribed"), "debug");
  assert.equal(levelOf("request refused"), "info");
  assert.equal(levelOf("settings reloaded"), "info");
  assert.equal(levelOf("subscriber too slow, disconnected"), "info");
  const refused = lines.find((l) => l.msg === "request refused")!;
  assert.equal(refused.status, 400);
  assert.equal(refused.method, "PUT");
  assert.match(String(refused.reason), /JSON object/);
  for (const line of lines) {
    assert.match(String(line.time), /^\d{4}-\d\d-\d\dT/);
    assert.ok(["debug", "info", "warn", "error"].includes(String(line.level)));
  }
});

/** The permission flags of a task in deno.json. */
async function taskPermissions(task: string): Promise<string[]> {
  const deno = JSON.parse(await Deno.readTextFile(new URL("../deno.json", import.meta.url)));
  return String(deno.tasks[task]).split(/\s+/).filter((arg) => arg.startsWith("--allow-"));
}

Deno.test("deno task start's permissions run the service with and without SQS", async () => {
  const permissions = await taskPermissions("start");
  assert.ok(permissions.some((p) => p.startsWith("--allow-env=")), "env access is an allow-list");

  const plain = await writeFiles({ admin: { port: 0 } });
  const child = new Child(["--config", plain.config, "--acl", plain.acl], permissions);
  const admin = /"?port"?[=:](\d+)/.exec(await child.waitLine(/listening for admin/))![1];
  const ready = await fetch(`http://127.0.0.1:${admin}/readyz`);
  assert.equal(ready.status, 200, await ready.text());
  child.kill("SIGTERM");
  assert.equal(await child.exit(), 0);
  await plain.cleanup();

  const emulator = await Emulator.start();
  const queueUrl = await emulator.createQueue("events");
  const files = await writeFiles({
    sqs: {
      events: {
        queue: "events",
        region: REGION,
        delete: true,
        key: CREDENTIALS.accessKeyId,
        secret: CREDENTIALS.secretAccessKey,
        endpoint: emulator.endpoint,
      },
    },
  });
  const reader = new Child(["--config", files.config, "--acl", files.acl], permissions);
  try {
    const port = /port=(\d+)/.exec(await reader.waitLine(/listening for HTTP/))![1];
    await reader.waitLine(/reading SQS queue/);
    const sub = await StreamClient.open(`http://127.0.0.1:${port}/sqs`);
    await emulator.send(queueUrl, '{"pubsub_path": "/sqs/test", "n": 1}');
    assert.equal((await sub.next()).n, 1);
    await sub.close();
  } finally {
    reader.kill("SIGTERM");
    assert.equal(await reader.exit(), 0);
    assert.ok(
      !reader.lines.some((l) => /NotCapable|Requires .* access/.test(l)),
      reader.lines.join("\n"),
    );
    await files.cleanup();
    await emulator.stop();
  }
});
