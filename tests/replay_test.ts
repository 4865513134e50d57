import assert from "node:assert/strict";
import { importBacklog, startApp } from "../lib/app.ts";
import { stringify } from "yaml";
import {
  basic,
  engineTest,
  type Line,
  publish,
  startServer,
  StreamClient,
  testConfig,
  writeFiles,
} from "./helpers.ts";

const BACKLOG = { server: { backlog: { size: 100, max_age: "1h" } } };

async function publishAll(url: string, from: number, to: number, path = "/t"): Promise<void> {
  for (let i = from; i < to; i++) assert.equal(await publish(url + path, { i }), 202);
}

async function take(sub: StreamClient, n: number): Promise<Line[]> {
  const lines: Line[] = [];
  for (let i = 0; i < n; i++) lines.push(await sub.next());
  return lines;
}

engineTest(
  "X-Fetch-Since replays retained events at or after a time, then goes live",
  async (t) => {
    const srv = await t.start(BACKLOG);
    try {
      for (let i = 0; i < 3; i++) {
        assert.equal(await publish(`${srv.url}/t`, { i }), 202);
        await new Promise((r) => setTimeout(r, 3)); // distinct millisecond timestamps
      }
      const probe = await StreamClient.open(`${srv.url}/t`, { headers: { "X-Fetch-Since": "0" } });
      const all = await take(probe, 3);
      await probe.close();
      const third = all[2]!.pubsub_timestamp as number;
      for (const since of [String(third), String(Math.floor(third * 1000) / 1000)]) {
        const sub = await StreamClient.open(`${srv.url}/t`, {
          headers: { "X-Fetch-Since": since },
        });
        assert.equal((await sub.next()).i, 2, `since ${since}`);
        await publish(`${srv.url}/t`, { live: true });
        assert.equal((await sub.next()).live, true);
        await sub.close();
      }
    } finally {
      await srv.close();
    }
  },
);

engineTest("X-Fetch-Since-Cursor replays the events after that cursor", async (t) => {
  const srv = await t.start(BACKLOG);
  try {
    const first = await StreamClient.open(`${srv.url}/t`);
    await publishAll(srv.url, 0, 5);
    const seen = await take(first, 5);
    await first.close();
    const cursor = String(seen[1]!.pubsub_cursor);
    const sub = await StreamClient.open(`${srv.url}/t`, {
      headers: { "X-Fetch-Since-Cursor": cursor },
    });
    assert.equal(sub.response.headers.get("x-backlog-truncated"), null);
    assert.deepEqual((await take(sub, 3)).map((l) => l.i), [2, 3, 4]);
    await sub.expectSilence();
    await sub.close();
  } finally {
    await srv.close();
  }
});

engineTest(
  "a cursor older than the history replays all of it and says events were missed",
  async (t) => {
    const srv = await t.start({ server: { backlog: { size: 3 } } });
    try {
      const first = await StreamClient.open(`${srv.url}/t`);
      await publishAll(srv.url, 0, 6);
      const seen = await take(first, 6);
      await first.close();
      const sub = await StreamClient.open(`${srv.url}/t`, {
        headers: { "X-Fetch-Since-Cursor": String(seen[0]!.pubsub_cursor) },
      });
      assert.equal(sub.response.headers.get("x-backlog-truncated"), "true");
      assert.deepEqual((await take(sub, 3)).map((l) => l.i), [3, 4, 5]);
      await sub.close();

      const unknown = "ffffffff-ffff-7fff-bfff-ffffffffffff";
      const none = await StreamClient.open(`${srv.url}/t`, {
        headers: { "X-Fetch-Since-Cursor": unknown },
      });
      assert.equal(none.response.headers.get("x-backlog-truncated"), null);
      await none.expectSilence();
      await none.close();
    } finally {
      await srv.close();
    }
  },
);

Deno.test("replay honours the subscription's topics and the ACL for private events", async () => {
  const users = { alice: { password: "pw", acl: { repo: ["git", "repo"] } } };
  const srv = await startServer(BACKLOG, users);
  try {
    await publish(`${srv.url}/private/git/repo`, { n: "private" });
    await publish(`${srv.url}/git/other`, { n: "public" });
    await publish(`${srv.url}/svn/other`, { n: "other topic" });
    const since = { "X-Fetch-Since": "0" };
    const alice = await StreamClient.open(`${srv.url}/git`, {
      headers: { ...since, Authorization: basic("alice", "pw") },
    });
    assert.deepEqual((await take(alice, 2)).map((l) => l.n), ["private", "public"]);
    await alice.expectSilence();
    const anonymous = await StreamClient.open(`${srv.url}/git`, { headers: since });
    assert.equal((await anonymous.next()).n, "public");
    await anonymous.expectSilence();
    await Promise.all([alice.close(), anonymous.close()]);
  } finally {
    await srv.close();
  }
});

engineTest("replay with no history configured replays nothing", async (t) => {
  const srv = await t.start();
  try {
    await publishAll(srv.url, 0, 2);
    const sub = await StreamClient.open(`${srv.url}/t`, { headers: { "X-Fetch-Since": "0" } });
    await sub.expectSilence();
    await sub.close();
  } finally {
    await srv.close();
  }
});

engineTest("a bad X-Fetch-Since answers 400", async (t) => {
  const srv = await t.start(BACKLOG);
  try {
    const res = await fetch(`${srv.url}/t`, { headers: { "X-Fetch-Since": "yesterday" } });
    assert.equal(res.status, 400);
    assert.match(await res.text(), /X-Fetch-Since must be seconds since the epoch/);
  } finally {
    await srv.close();
  }
});

engineTest(
  "replay hands over to live with no gap and no duplicate under a busy publisher",
  async (t) => {
    const srv = await t.start({ server: { backlog: { size: 10_000 } } });
    try {
      const watcher = await StreamClient.open(`${srv.url}/busy`);
      let next = 0;
      let publishing = true;
      const publisher = (async () => {
        while (publishing && next < 3000) await publish(`${srv.url}/busy`, { i: next++ });
      })();
      // Reconnect several times mid-stream, each time from the last cursor seen.
      let last = await watcher.next();
      await watcher.close();
      const received = [last.i as number];
      for (let round = 0; round < 5; round++) {
        const sub = await StreamClient.open(`${srv.url}/busy`, {
          headers: { "X-Fetch-Since-Cursor": String(last.pubsub_cursor) },
        });
        for (let n = 0; n < 50; n++) {
          last = await sub.next();
          received.push(last.i as number);
        }
        await sub.close();
      }
      publishing = false;
      await publisher;
      assert.deepEqual(received, received.map((_, k) => received[0]! + k), "contiguous, in order");
    } finally {
      await srv.close();
    }
  },
);

Deno.test("history and cursors survive a restart with storage", async () => {
  const files = await writeFiles();
  const storage = `${files.dir}/history.log`;
  await Deno.writeTextFile(
    files.config,
    stringify(testConfig({ server: { backlog: { size: 100, storage } } })),
  );
  let app = await startApp(files);
  try {
    let url = `http://127.0.0.1:${app.server.port}`;
    const sub = await StreamClient.open(`${url}/t`);
    await publishAll(url, 0, 3);
    const cursor = String((await sub.next()).pubsub_cursor);
    await sub.close();
    await app.stop();

    app = await startApp(files);
    url = `http://127.0.0.1:${app.server.port}`;
    await publishAll(url, 3, 5);
    const back = await StreamClient.open(`${url}/t`, {
      headers: { "X-Fetch-Since-Cursor": cursor },
    });
    assert.deepEqual((await take(back, 4)).map((l) => l.i), [1, 2, 3, 4]);
    await back.expectSilence();
    await back.close();
  } finally {
    await app.stop();
    await files.cleanup();
  }
});

Deno.test("--import-backlog brings a PyPubSub backlog file into storage for replay", async () => {
  const files = await writeFiles();
  const storage = `${files.dir}/history.log`;
  const backlog = `${files.dir}/backlog.json`;
  await Deno.writeTextFile(
    files.config,
    stringify(testConfig({ server: { backlog: { size: 100, storage } } })),
  );
  const entry = (t: number, topics: string[], n: number, priv = false) =>
    JSON.stringify({ timestamp: t, topics, json: { n, pubsub_cursor: "old" }, private: priv });
  await Deno.writeTextFile(
    backlog,
    [entry(1700000000.5, ["t", "a"], 1), "not json", entry(1700000001.25, ["t"], 2)].join("\n"),
  );
  const missing = await importBacklog(files.config.replace("pubsub.yaml", "none.yaml"), backlog)
    .then(() => null, (err: Error) => err.message);
  assert.match(missing ?? "", /cannot read/);
  assert.deepEqual(await importBacklog(files.config, backlog), { imported: 2, skipped: 1 });
  const app = await startApp(files);
  try {
    const sub = await StreamClient.open(`http://127.0.0.1:${app.server.port}/t`, {
      headers: { "X-Fetch-Since": "0" },
    });
    const lines = await take(sub, 2);
    assert.deepEqual(lines.map((l) => [l.n, l.pubsub_timestamp, l.pubsub_path]), [
      [1, 1700000000.5, "/t/a"],
      [2, 1700000001.25, "/t"],
    ]);
    assert.notEqual(lines[0]!.pubsub_cursor, "old");
    await sub.close();
  } finally {
    await app.stop();
    await files.cleanup();
  }
});
