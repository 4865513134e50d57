import assert from "node:assert/strict";
import { stringify } from "yaml";
import { Child, portIn, startChild, taskPermissions } from "./child.ts";
import {
  basic,
  engineTest,
  publish,
  StreamClient,
  Streams,
  testConfig,
  withEngine,
  writeFiles,
} from "./helpers.ts";
import { CREDENTIALS, Emulator, REGION } from "./sqs_emulator.ts";
import { startApp } from "../lib/app.ts";

Deno.test("main.ts --help and --version print on stdout and exit 0", async () => {
  for (const flag of ["--help", "--version"]) {
    const child = new Child([flag]);
    assert.equal(await child.exit(), 0);
    const out = child.stdout.join("\n");
    assert.match(out, flag === "--help" ? /--config FILE/ : /^\d+\.\d+\.\d+$/);
    assert.deepEqual(child.stderr, []);
  }
});

Deno.test("main.ts exits non-zero with one line on stderr for a missing or invalid config", async () => {
  const missing = new Child(["--config", "/nonexistent/pubsub.yaml"]);
  assert.equal(await missing.exit(), 1);
  assert.equal(missing.stderr.length, 1, missing.stderr.join("\n"));
  assert.match(
    missing.stderr[0]!,
    /ERROR .*\/nonexistent\/pubsub\.yaml: cannot read: file not found/,
  );
  assert.deepEqual(missing.stdout, []);

  const files = await writeFiles({ server: { port: "two thousand" } });
  try {
    const invalid = new Child(["--config", files.config]);
    assert.equal(await invalid.exit(), 1);
    assert.equal(invalid.stderr.length, 1, invalid.stderr.join("\n"));
    assert.match(invalid.stderr[0]!, /pubsub\.yaml: server\.port: must be a whole number/);
    assert.deepEqual(invalid.stdout, []);
  } finally {
    await files.cleanup();
  }

  const ldap = await writeFiles({ clients: { ldap: { uri: "ldap://127.0.0.1:1" } } });
  try {
    const badLdap = new Child(["--config", ldap.config]);
    assert.equal(await badLdap.exit(), 1);
    assert.equal(badLdap.stderr.length, 1, badLdap.stderr.join("\n"));
    assert.match(badLdap.stderr[0]!, /pubsub\.yaml: clients\.ldap\.user_dn: must be/);
  } finally {
    await ldap.cleanup();
  }

  const unknownFlag = new Child(["--nope"]);
  assert.equal(await unknownFlag.exit(), 2);
  assert.equal(unknownFlag.stderr.length, 1, unknownFlag.stderr.join("\n"));
  assert.match(unknownFlag.stderr[0]!, /--nope.*\(see --help\)/);
});

engineTest("main.ts runs without an ACL file and says so", async (t) => {
  await using server = await startChild(t.engine);
  const { child, url } = server;
  await child.waitLine(/ACL file not found; private events will reach nobody/);
  const head = await fetch(url, { method: "HEAD" });
  assert.equal(head.status, 204);
  child.kill("SIGTERM");
  assert.equal(await child.exit(), 0);
});

engineTest("SIGHUP reloads the allow-list and keeps open streams", async (t) => {
  await using server = await startChild(t.engine, {
    clients: { payloaders: ["127.0.0.1/32"] },
  });
  const { child, files, port, url } = server;
  await using sub = await StreamClient.open(`${url}/t`);
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
  await child.waitCount(/settings reloaded/, 2);
  assert.equal(await publish(`${url}/t`, { n: 4 }), 202);
  assert.equal((await sub.next()).n, 4, "the stream opened before the reloads still works");
  await sub.close();
  child.kill("SIGTERM");
  assert.equal(await child.exit(), 0);
});

engineTest("SIGUSR2 re-reads only the ACL file, not the config", async (t) => {
  await using server = await startChild(t.engine, {
    clients: { payloaders: ["127.0.0.1/32"] },
  }, { alice: { password: "a" } });
  const { child, files, port, url } = server;
  const login = async (user: string, password: string) => {
    const res = await fetch(`${url}/t`, { headers: { Authorization: basic(user, password) } });
    await res.body?.cancel();
    return res.status;
  };
  assert.equal(await login("carol", "c"), 401);

  await Deno.writeTextFile(files.acl, stringify({ carol: { password: "c" } }));
  const closed = { server: { port, engine: t.engine }, clients: { payloaders: ["10.0.0.0/8"] } };
  await Deno.writeTextFile(files.config, stringify(testConfig(closed)));
  child.kill("SIGUSR2");
  await child.waitLine(/settings reloaded what="acl"/);
  assert.equal(await login("carol", "c"), 200, "the new ACL is in force");
  assert.equal(await login("alice", "a"), 401, "the old ACL is gone");
  assert.equal(await publish(`${url}/t`, {}), 202, "the config was not read again");

  child.kill("SIGHUP");
  await child.waitLine(/settings reloaded what="all"/);
  assert.equal(await publish(`${url}/t`, {}), 403, "SIGHUP reads the config too");
  child.kill("SIGTERM");
  assert.equal(await child.exit(), 0);
});

engineTest("SIGTERM cuts every stream and exits 0", async (t) => {
  await using server = await startChild(t.engine);
  const { child, url } = server;
  await using streams = new Streams();
  const subs = await Promise.all([1, 2, 3].map(() => streams.open(`${url}/t`)));
  const started = Date.now();
  child.kill("SIGTERM");
  for (const sub of subs) assert.ok(await sub.cut(), "stream cut, not ended cleanly");
  assert.equal(await child.exit(), 0);
  assert.ok(Date.now() - started < 5000);
  const refused = await fetch(url, { method: "HEAD" }).then(() => false, () => true);
  assert.ok(refused, "no longer accepting connections");
});

engineTest(
  "SIGINT shuts down as SIGTERM does: streams stop, listeners close, exit 0",
  async (t) => {
    await using server = await startChild(t.engine);
    const { child, url } = server;
    await using streams = new Streams();
    const subs = await Promise.all([1, 2].map(() => streams.open(`${url}/t`)));
    child.kill("SIGINT");
    for (const sub of subs) assert.ok(await sub.cut(), "stream cut, not ended cleanly");
    assert.equal(await child.exit(), 0);
    assert.match(child.stderr.join("\n"), /shutting down signal="SIGINT"[^]*INFO {2}stopped$/);
    const refused = await fetch(url, { method: "HEAD" }).then(() => false, () => true);
    assert.ok(refused, "no longer accepting connections");
  },
);

engineTest("a second signal during shutdown changes nothing: one stop, exit 0", async (t) => {
  await using server = await startChild(t.engine);
  const { child, url } = server;
  await using streams = new Streams();
  const sub = await streams.open(`${url}/t`);
  child.kill("SIGTERM");
  child.kill("SIGINT");
  await child.waitLine(/shutting down/);
  try {
    child.kill("SIGTERM");
  } catch {
    // Already exited: the later signal had nothing left to reach.
  }
  assert.ok(await sub.cut(), "stream cut, not ended cleanly");
  assert.equal(await child.exit(), 0);
  const log = child.stderr.join("\n");
  assert.equal(log.match(/shutting down/g)?.length, 1, log);
  assert.match(log, /INFO {2}stopped$/);
  assert.doesNotMatch(log, /error/i);
});

engineTest("App.stop() called again while stopping waits for the same stop", async (t) => {
  const files = await writeFiles(withEngine({}, t.engine));
  try {
    const app = await startApp(files);
    const [first, second] = await Promise.allSettled([app.stop(), app.stop()]);
    assert.deepEqual([first, second], [
      { status: "fulfilled", value: true },
      { status: "fulfilled", value: true },
    ]);
  } finally {
    await files.cleanup();
  }
});

engineTest(
  "--log-format json logs subscribes, rejections, reloads and evictions as JSON on stderr only",
  async (t) => {
    const files = await writeFiles(withEngine({ server: { max_queued_bytes: 1024 } }, t.engine));
    const args = ["--config", files.config, "--acl", files.acl];
    await using child = new Child([...args, "--log-format", "json", "--log-level", "debug"]);
    const port = portIn(await child.waitLine(/"msg":"listening for HTTP"/));
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
      const evicted = () => child.stderr.some((l) => l.includes('"subscriber too slow'));
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
    assert.deepEqual(child.stdout, [], "nothing but the log is written, and only to stderr");
    const lines = child.stderr.map((line) => JSON.parse(line) as Record<string, unknown>);
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
  },
);

engineTest("deno task start's permissions run the service with and without SQS", async (t) => {
  const permissions = await taskPermissions("start");
  assert.ok(permissions.some((p) => p.startsWith("--allow-env=")), "env access is an allow-list");

  const plain = await writeFiles(withEngine({ admin: { port: 0 } }, t.engine));
  try {
    await using child = new Child(["--config", plain.config, "--acl", plain.acl], {
      permissions,
    });
    const admin = portIn(await child.waitLine(/listening for admin/));
    const ready = await fetch(`http://127.0.0.1:${admin}/readyz`);
    assert.equal(ready.status, 200, await ready.text());
    child.kill("SIGTERM");
    assert.equal(await child.exit(), 0);
  } finally {
    await plain.cleanup();
  }

  const emulator = await Emulator.start();
  const queueUrl = await emulator.createQueue("events");
  const files = await writeFiles(withEngine({
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
  }, t.engine));
  const reader = new Child(["--config", files.config, "--acl", files.acl], { permissions });
  try {
    const port = portIn(await reader.waitLine(/listening for HTTP/));
    await reader.waitLine(/reading SQS queue/);
    await using sub = await StreamClient.open(`http://127.0.0.1:${port}/sqs`);
    await emulator.send(queueUrl, '{"pubsub_path": "/sqs/test", "n": 1}');
    assert.equal((await sub.next()).n, 1);
  } finally {
    reader.kill("SIGTERM");
    assert.equal(await reader.exit(), 0);
    assert.ok(
      !reader.stderr.some((l) => /NotCapable|Requires .* access/.test(l)),
      reader.stderr.join("\n"),
    );
    await files.cleanup();
    await emulator.stop();
  }
});
