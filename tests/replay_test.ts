import assert from "node:assert/strict";
import { startApp } from "../lib/app.ts";
import { stringify } from "yaml";
import { Child } from "./child.ts";
import {
  basic,
  engineTest,
  type Line,
  publish,
  StreamClient,
  Streams,
  testConfig,
  withEngine,
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
      let all: Line[];
      {
        await using probe = await StreamClient.open(`${srv.url}/t`, {
          headers: { "X-Fetch-Since": "0" },
        });
        all = await take(probe, 3);
      }
      const third = all[2]!.pubsub_timestamp as number;
      for (const since of [String(third), String(Math.floor(third * 1000) / 1000)]) {
        await using sub = await StreamClient.open(`${srv.url}/t`, {
          headers: { "X-Fetch-Since": since },
        });
        assert.equal((await sub.next()).i, 2, `since ${since}`);
        await publish(`${srv.url}/t`, { live: true });
        assert.equal((await sub.next()).live, true);
      }
    } finally {
      await srv.close();
    }
  },
);

engineTest("X-Fetch-Since-Cursor replays the events after that cursor", async (t) => {
  const srv = await t.start(BACKLOG);
  try {
    await using first = await StreamClient.open(`${srv.url}/t`);
    await publishAll(srv.url, 0, 5);
    const seen = await take(first, 5);
    const cursor = String(seen[1]!.pubsub_cursor);
    await using sub = await StreamClient.open(`${srv.url}/t`, {
      headers: { "X-Fetch-Since-Cursor": cursor },
    });
    assert.equal(sub.response.headers.get("x-backlog-truncated"), null);
    assert.deepEqual((await take(sub, 3)).map((l) => l.i), [2, 3, 4]);
    await sub.expectSilence();
  } finally {
    await srv.close();
  }
});

engineTest(
  "a cursor older than the history replays all of it and says events were missed",
  async (t) => {
    const srv = await t.start({ server: { backlog: { size: 3 } } });
    try {
      await using first = await StreamClient.open(`${srv.url}/t`);
      await publishAll(srv.url, 0, 6);
      const seen = await take(first, 6);
      await using sub = await StreamClient.open(`${srv.url}/t`, {
        headers: { "X-Fetch-Since-Cursor": String(seen[0]!.pubsub_cursor) },
      });
      assert.equal(sub.response.headers.get("x-backlog-truncated"), "true");
      assert.deepEqual((await take(sub, 3)).map((l) => l.i), [3, 4, 5]);

      const unknown = "ffffffff-ffff-7fff-bfff-ffffffffffff";
      await using none = await StreamClient.open(`${srv.url}/t`, {
        headers: { "X-Fetch-Since-Cursor": unknown },
      });
      assert.equal(none.response.headers.get("x-backlog-truncated"), null);
      await none.expectSilence();
    } finally {
      await srv.close();
    }
  },
);

engineTest("replay honours the subscription's topics and the ACL for private events", async (t) => {
  const users = { alice: { password: "pw", acl: { repo: ["git", "repo"] } } };
  const srv = await t.start(BACKLOG, users);
  try {
    await publish(`${srv.url}/private/git/repo`, { n: "private" });
    await publish(`${srv.url}/git/other`, { n: "public" });
    await publish(`${srv.url}/svn/other`, { n: "other topic" });
    const since = { "X-Fetch-Since": "0" };
    await using streams = new Streams();
    const alice = await streams.open(`${srv.url}/git`, {
      headers: { ...since, Authorization: basic("alice", "pw") },
    });
    assert.deepEqual((await take(alice, 2)).map((l) => l.n), ["private", "public"]);
    await alice.expectSilence();
    const anonymous = await streams.open(`${srv.url}/git`, { headers: since });
    assert.equal((await anonymous.next()).n, "public");
    await anonymous.expectSilence();
  } finally {
    await srv.close();
  }
});

engineTest("oldschool clients get a NUL after replayed lines too", async (t) => {
  const srv = await t.start(BACKLOG);
  try {
    await publishAll(srv.url, 0, 2);
    await using sub = await StreamClient.open(`${srv.url}/t`, {
      headers: { "X-Fetch-Since": "0", "User-Agent": "svnwcsub/1.9" },
      oldschool: true,
    });
    const replayed = [await sub.nextRaw(), await sub.nextRaw()];
    for (const [i, frame] of replayed.entries()) {
      assert.deepEqual([frame.at(-2), frame.at(-1)], [10, 0]);
      assert.equal(JSON.parse(new TextDecoder().decode(frame.subarray(0, -2))).i, i);
    }
    await publish(`${srv.url}/t`, { i: 2 });
    assert.equal((await sub.next()).i, 2, "and after live ones");
  } finally {
    await srv.close();
  }
});

engineTest("replay with no history configured replays nothing", async (t) => {
  const srv = await t.start();
  try {
    await publishAll(srv.url, 0, 2);
    await using sub = await StreamClient.open(`${srv.url}/t`, {
      headers: { "X-Fetch-Since": "0" },
    });
    await sub.expectSilence();
  } finally {
    await srv.close();
  }
});

engineTest("a bad X-Fetch-Since answers 400", async (t) => {
  const srv = await t.start(BACKLOG);
  try {
    const res = await fetch(`${srv.url}/t`, { headers: { "X-Fetch-Since": "yesterday" } });
    assert.equal(res.status, 400);
    assert.equal(res.headers.get("content-type"), "text/plain; charset=utf-8");
    assert.match(await res.text(), /X-Fetch-Since must be seconds since the epoch/);
  } finally {
    await srv.close();
  }
});

engineTest(
  "replay hands over to live with no gap and no duplicate under a busy publisher",
  async (t) => {
    const srv = await t.start({ server: { backlog: { size: 10_000 } } });
    let publishing = true;
    let publisher: Promise<void> = Promise.resolve();
    try {
      let last: Line;
      {
        await using watcher = await StreamClient.open(`${srv.url}/busy`);
        let next = 0;
        publisher = (async () => {
          while (publishing && next < 3000) await publish(`${srv.url}/busy`, { i: next++ });
        })();
        last = await watcher.next();
      }
      // Reconnect several times mid-stream, each time from the last cursor seen.
      const received = [last.i as number];
      for (let round = 0; round < 5; round++) {
        await using sub = await StreamClient.open(`${srv.url}/busy`, {
          headers: { "X-Fetch-Since-Cursor": String(last.pubsub_cursor) },
        });
        for (let n = 0; n < 50; n++) {
          last = await sub.next();
          received.push(last.i as number);
        }
      }
      assert.deepEqual(received, received.map((_, k) => received[0]! + k), "contiguous, in order");
    } finally {
      publishing = false;
      await publisher.catch(() => {});
      await srv.close();
    }
  },
);

engineTest("history and cursors survive a restart with storage", async (t) => {
  const files = await writeFiles();
  const storage = `${files.dir}/history.log`;
  await Deno.writeTextFile(
    files.config,
    stringify(testConfig(withEngine({ server: { backlog: { size: 100, storage } } }, t.engine))),
  );
  let app = await startApp(files);
  try {
    let url = `http://127.0.0.1:${app.server.port}`;
    let cursor: string;
    {
      await using sub = await StreamClient.open(`${url}/t`);
      await publishAll(url, 0, 3);
      cursor = String((await sub.next()).pubsub_cursor);
    }
    await app.stop();

    app = await startApp(files);
    url = `http://127.0.0.1:${app.server.port}`;
    await publishAll(url, 3, 5);
    await using back = await StreamClient.open(`${url}/t`, {
      headers: { "X-Fetch-Since-Cursor": cursor },
    });
    assert.deepEqual((await take(back, 4)).map((l) => l.i), [1, 2, 3, 4]);
    await back.expectSilence();
  } finally {
    await app.stop();
    await files.cleanup();
  }
});

/** A PyPubSub backlog entry, as PyPubSub writes one per line. */
function entry(t: number, topics: string[], n: number): string {
  return JSON.stringify({
    timestamp: t,
    topics,
    json: { n, pubsub_cursor: "old" },
    private: false,
  });
}

engineTest(
  "main.ts --import-backlog brings a PyPubSub backlog file into storage for replay",
  async (t) => {
    const files = await writeFiles();
    const storage = `${files.dir}/history.log`;
    const backlog = `${files.dir}/backlog.json`;
    try {
      await Deno.writeTextFile(
        backlog,
        [entry(1700000000.5, ["t", "a"], 1), "not json", entry(1700000001.25, ["t"], 2)].join("\n"),
      );
      const noStorage = new Child(["--config", files.config, "--import-backlog", backlog]);
      assert.equal(await noStorage.exit(), 1);
      assert.equal(noStorage.stderr.length, 1, noStorage.stderr.join("\n"));
      assert.match(noStorage.stderr[0]!, /ERROR .*server\.backlog: set size and storage to import/);

      const patch = withEngine({ server: { backlog: { size: 100, storage } } }, t.engine);
      await Deno.writeTextFile(files.config, stringify(testConfig(patch)));
      const importer = new Child(["--config", files.config, "--import-backlog", backlog]);
      assert.equal(await importer.exit(), 0);
      assert.deepEqual(importer.stdout, []);
      assert.match(importer.stderr.join("\n"), /INFO {2}backlog imported .*imported=2 skipped=1/);

      const app = await startApp(files);
      try {
        await using sub = await StreamClient.open(`http://127.0.0.1:${app.server.port}/t`, {
          headers: { "X-Fetch-Since": "0" },
        });
        const lines = await take(sub, 2);
        assert.deepEqual(lines.map((l) => [l.n, l.pubsub_timestamp, l.pubsub_path]), [
          [1, 1700000000.5, "/t/a"],
          [2, 1700000001.25, "/t"],
        ]);
        assert.notEqual(lines[0]!.pubsub_cursor, "old");
      } finally {
        await app.stop();
      }
    } finally {
      await files.cleanup();
    }
  },
);
