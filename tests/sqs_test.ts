import assert from "node:assert/strict";
import { configureLog } from "../lib/log.ts";
import { RecentIds, SqsIngest } from "../lib/sqs/ingest.ts";
import type { SqsQueueConfig } from "../lib/sqs/config.ts";
import {
  type ConfigPatch,
  type EngineContext,
  engineTest,
  StreamClient,
  Streams,
  type TestServer,
  waitFor,
} from "./helpers.ts";
import { CREDENTIALS, Emulator, REGION } from "./sqs_emulator.ts";

function queueConfig(emulator: Emulator, fields: Partial<SqsQueueConfig> = {}): SqsQueueConfig {
  return {
    name: "q1",
    queue: "events",
    region: REGION,
    delete: true,
    credentials: CREDENTIALS,
    endpoint: emulator.endpoint,
    ...fields,
  };
}

/** Starts a server whose config reads queue `events` from the emulator. */
function serverReading(
  t: EngineContext,
  emulator: Emulator,
  fields: ConfigPatch = {},
): Promise<TestServer> {
  return t.start({
    sqs: {
      q1: {
        queue: "events",
        region: REGION,
        delete: true,
        key: "test",
        secret: "test",
        endpoint: emulator.endpoint,
        ...fields,
      },
    },
  });
}

async function waitForAsync(cond: () => Promise<boolean>, what: string, timeoutMs = 5000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Collects log lines (JSON) while `fn` runs. */
async function captureLog<T>(fn: (lines: string[]) => Promise<T>): Promise<T> {
  const lines: string[] = [];
  const before = configureLog({ level: "info", format: "json", write: (l) => lines.push(l) });
  try {
    return await fn(lines);
  } finally {
    configureLog(before);
  }
}

function sqsCount(srv: TestServer, result: string): number {
  return srv.app.server.metrics.sqsMessages.get(["q1", result]);
}

engineTest("an SQS message reaches subscribers of its pubsub_path and is deleted", async (t) => {
  const emulator = await Emulator.start();
  const queueUrl = await emulator.createQueue("events");
  const srv = await serverReading(t, emulator);
  try {
    await using sub = await StreamClient.open(`${srv.url}/git`);
    await emulator.send(queueUrl, '{"commit": "abc", "pubsub_path": "/git/repo"}');
    const event = await sub.next();
    assert.equal(event.commit, "abc");
    assert.deepEqual(event.pubsub_topics, ["git", "repo"]);
    assert.equal(event.pubsub_path, "/git/repo");
    assert.match(String(event.pubsub_cursor), /^[0-9a-f-]{36}$/);
    await waitForAsync(async () => (await emulator.count(queueUrl)) === 0, "the deletion");
    assert.equal(sqsCount(srv, "published"), 1);
    assert.equal(srv.app.server.metrics.accepted.value, 1);
  } finally {
    await srv.close();
    await emulator.stop();
  }
});

engineTest("an SQS message without pubsub_path is published to /", async (t) => {
  const emulator = await Emulator.start();
  const queueUrl = await emulator.createQueue("events");
  const srv = await serverReading(t, emulator);
  try {
    await using streams = new Streams();
    const all = await streams.open(`${srv.url}/`);
    const git = await streams.open(`${srv.url}/git`);
    await emulator.send(queueUrl, '{"n": 1}');
    const event = await all.next();
    assert.equal(event.n, 1);
    assert.equal(event.pubsub_path, "/");
    assert.deepEqual(event.pubsub_topics, []);
    await git.expectSilence();
  } finally {
    await srv.close();
    await emulator.stop();
  }
});

engineTest("with delete: false a message stays queued and is published once", async (t) => {
  const emulator = await Emulator.start();
  const queueUrl = await emulator.createQueue("events", 1);
  const srv = await serverReading(t, emulator, { delete: false });
  try {
    await using sub = await StreamClient.open(`${srv.url}/t`);
    await emulator.send(queueUrl, '{"n": 1, "pubsub_path": "/t"}');
    assert.equal((await sub.next()).n, 1);
    // The message comes back after its 1 s visibility timeout and is skipped by id.
    await waitFor(() => sqsCount(srv, "duplicate") >= 1, 5000, "the message to come back");
    await sub.expectSilence();
    assert.equal(sqsCount(srv, "published"), 1);
    assert.equal(await emulator.count(queueUrl), 1, "the message is still in the queue");
  } finally {
    await srv.close();
    await emulator.stop();
  }
});

engineTest("a message whose id was seen is skipped and still deleted", async (t) => {
  const emulator = await Emulator.start();
  const queueUrl = await emulator.createQueue("events");
  const srv = await t.start();
  const server = srv.app.server;
  const seenId = await emulator.send(queueUrl, '{"n": 1, "pubsub_path": "/t"}');
  await emulator.send(queueUrl, '{"n": 2, "pubsub_path": "/t"}');
  let ingest: SqsIngest | undefined;
  try {
    await using sub = await StreamClient.open(`${srv.url}/t`);
    ingest = new SqsIngest(
      [queueConfig(emulator)],
      { publish: (target, body) => server.publishEvent(target, body), metrics: server.metrics },
      { waitSeconds: 1 },
    );
    // As if an earlier receive had published it but failed to delete it.
    ingest.seen.add(seenId);
    assert.equal((await sub.next()).n, 2);
    await waitForAsync(async () => (await emulator.count(queueUrl)) === 0, "the deletions");
    await sub.expectSilence();
    assert.equal(server.metrics.sqsMessages.get(["q1", "duplicate"]), 1);
    assert.equal(server.metrics.sqsMessages.get(["q1", "published"]), 1);
  } finally {
    await ingest?.stop();
    await srv.close();
    await emulator.stop();
  }
});

Deno.test("RecentIds forgets the least recently used id beyond its capacity", () => {
  const ids = new RecentIds(3);
  for (const id of ["a", "b", "c"]) ids.add(id);
  assert.ok(ids.has("a"), "a hit makes a the most recently used");
  ids.add("d");
  assert.equal(ids.size, 3);
  assert.ok(!ids.has("b"), "b was the least recently used");
  assert.ok(ids.has("a") && ids.has("c") && ids.has("d"));
});

engineTest("SQS bodies that are not JSON objects are logged once each and skipped", async (t) => {
  const emulator = await Emulator.start();
  const queueUrl = await emulator.createQueue("events");
  await captureLog(async (lines) => {
    const srv = await serverReading(t, emulator);
    try {
      await using sub = await StreamClient.open(`${srv.url}/`);
      for (const body of ["not json", "[1, 2]", '{"pubsub_path": 5}', '{"pubsub_path": "/%zz"}']) {
        await emulator.send(queueUrl, body);
      }
      await emulator.send(queueUrl, '{"ok": true, "pubsub_path": "/t"}');
      assert.equal((await sub.next()).ok, true);
      await waitForAsync(async () => (await emulator.count(queueUrl)) === 0, "the deletions");
      await sub.expectSilence();
      const metrics = srv.app.server.metrics;
      assert.equal(metrics.rejected.get(["sqs", "bad_body"]), 4);
      assert.equal(sqsCount(srv, "rejected"), 4);
      const rejected = lines.map((l) => JSON.parse(l)).filter((l) =>
        l.msg === "SQS message rejected"
      );
      assert.equal(rejected.length, 4);
      for (const line of rejected) {
        assert.equal(line.level, "info");
        assert.equal(line.queue, "q1");
        assert.match(line.reason, /JSON|pubsub_path|percent-encoding/);
      }
    } finally {
      await srv.close();
    }
  });
  await emulator.stop();
});

engineTest("SQS reading recovers when the endpoint goes down and comes back", async (t) => {
  let emulator = await Emulator.start();
  const port = emulator.port;
  let queueUrl = await emulator.createQueue("events");
  const srv = await t.start();
  const sub = await StreamClient.open(`${srv.url}/t`);
  const server = srv.app.server;
  try {
    await captureLog(async (lines) => {
      const ingest = new SqsIngest(
        [queueConfig(emulator)],
        { publish: (target, body) => server.publishEvent(target, body), metrics: server.metrics },
        { waitSeconds: 1, backoffMs: 20, maxBackoffMs: 100 },
      );
      try {
        await emulator.send(queueUrl, '{"n": 1, "pubsub_path": "/t"}');
        assert.equal((await sub.next()).n, 1);

        await emulator.stop();
        await waitFor(() => server.metrics.sqsErrors.get(["q1"]) >= 3, 5000, "failed polls");
        emulator = await Emulator.start(port);
        queueUrl = await emulator.createQueue("events");
        await emulator.send(queueUrl, '{"n": 2, "pubsub_path": "/t"}');
        assert.equal((await sub.next(10_000)).n, 2);

        const parsed = lines.map((l) => JSON.parse(l));
        const failures = parsed.filter((l) => l.msg === "SQS call failed, retrying");
        assert.ok(failures.length >= 3);
        assert.equal(failures.length, server.metrics.sqsErrors.get(["q1"]), "one line per error");
        const delays = failures.map((l) => l.retry_in_ms);
        assert.deepEqual(delays.slice(0, 4), [20, 40, 80, 100].slice(0, delays.length));
        assert.ok(parsed.some((l) => l.msg === "SQS queue reachable again"));
        assert.ok(!lines.some((l) => l.includes("    at ")), "no stack traces");
      } finally {
        await ingest.stop();
      }
    });
  } finally {
    await sub.close();
    await srv.close();
    await emulator.stop();
  }
});

engineTest(
  "stopping the service aborts a pending SQS long poll instead of waiting it out",
  async (t) => {
    const emulator = await Emulator.start();
    await emulator.createQueue("events");
    const srv = await serverReading(t, emulator);
    try {
      const polls = () => emulator.calls.filter((call) => call.action === "ReceiveMessage");
      await waitFor(() => polls().some((call) => call.state === "pending"), 5000, "a long poll");
      const poll = polls().find((call) => call.state === "pending")!;
      await srv.app.stop();
      // A poll waited out would be answered (after 20 s); an aborted one never is.
      await waitFor(() => poll.state !== "pending", 2000, "the emulator to see the poll end");
      assert.equal(poll.state, "aborted");
    } finally {
      await srv.files.cleanup();
      await emulator.stop();
    }
  },
);
