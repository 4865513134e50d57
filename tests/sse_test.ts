import assert from "node:assert/strict";
import { App, startApp } from "../lib/app.ts";
import { basic, engineTest, publish, StreamClient, withEngine, writeFiles } from "./helpers.ts";
import { SseReader } from "./sse_helpers.ts";

const BACKLOG = { server: { backlog: { size: 100, max_age: "1h" } } };

engineTest("SSE: Accept text/event-stream gets id and data per event, and headers", async (t) => {
  const srv = await t.start(BACKLOG);
  const sse = await SseReader.open(`${srv.url}/fruits`);
  const ndjson = await StreamClient.open(`${srv.url}/fruits`);
  try {
    const h = sse.response.headers;
    assert.equal(h.get("content-type"), "text/event-stream");
    assert.equal(h.get("cache-control"), "no-cache");
    assert.equal(h.get("x-accel-buffering"), "no");
    assert.equal(ndjson.response.headers.get("x-accel-buffering"), "no");
    const opening = await sse.next();
    assert.equal(opening.event, "stream");
    assert.deepEqual(JSON.parse(opening.data), {
      newest_cursor: null,
      cursor_unknown: false,
      backlog_truncated: false,
    });
    assert.deepEqual(sse.retries, [2000]);
    await publish(`${srv.url}/fruits/apples`, { kind: "apple" });
    const ev = await sse.next();
    const line = await ndjson.next();
    assert.equal(ev.event, "message");
    assert.equal(ev.id, line.pubsub_cursor);
    assert.deepEqual(JSON.parse(ev.data), line, "the same JSON as the NDJSON line");
    assert.match(sse.comments[0] ?? "", /^: stillalive \d+(\.\d+)?$/, "keepalives are comments");
  } finally {
    await sse.close();
    await ndjson.close();
    await srv.close();
  }
});

engineTest(
  "SSE: Last-Event-ID and ?cursor= replay what follows; the opening event says where",
  async (t) => {
    const srv = await t.start(BACKLOG);
    const readers: SseReader[] = [];
    const open = async (query: string, headers: Record<string, string> = {}) => {
      const r = await SseReader.open(`${srv.url}/t${query}`, { headers });
      readers.push(r);
      return r;
    };
    try {
      for (const n of [1, 2, 3]) await publish(`${srv.url}/t`, { n });
      const all = await open("?since=0");
      const seen = [await all.nextData(), await all.nextData(), await all.nextData()];
      assert.deepEqual(seen.map((e) => e.n), [1, 2, 3], "?since= replays by time");
      const first = seen[0]!.pubsub_cursor as string;
      const third = seen[2]!.pubsub_cursor as string;
      const resumed = await open("", { "Last-Event-ID": first });
      assert.equal(resumed.response.headers.get("x-newest-cursor"), third);
      const status = JSON.parse((await resumed.next()).data);
      assert.equal(status.newest_cursor, third, "the page learns the newest cursor");
      assert.deepEqual([(await resumed.nextData()).n, (await resumed.nextData()).n], [2, 3]);
      const byQuery = await open(`?cursor=${seen[1]!.pubsub_cursor}`);
      assert.equal((await byQuery.nextData()).n, 3);
      const both = await open(`?cursor=${first}`, {
        "Last-Event-ID": seen[1]!.pubsub_cursor as string,
      });
      assert.equal((await both.nextData()).n, 3, "Last-Event-ID wins over the page's ?cursor=");
      const unknown = await open("?cursor=3f1c2b8e-9a4d-4c2e-8f6b-1d2e3f4a5b6c");
      assert.equal(JSON.parse((await unknown.next()).data).cursor_unknown, true);
      await publish(`${srv.url}/t`, { n: 4 });
      assert.equal((await unknown.nextData()).n, 4, "an unknown cursor still goes live");
      const bad = await fetch(`${srv.url}/t?since=yesterday`, {
        headers: { Accept: "text/event-stream" },
      });
      assert.equal(bad.status, 400);
      assert.match(await bad.text(), /since must be seconds/);
    } finally {
      for (const r of readers) await r.close();
      await srv.close();
    }
  },
);

engineTest(
  "?since= and ?cursor= work on the NDJSON stream; other parameters change nothing",
  async (t) => {
    const srv = await t.start(BACKLOG);
    const streams: StreamClient[] = [];
    try {
      for (const n of [1, 2]) await publish(`${srv.url}/t`, { n });
      const since = await StreamClient.open(`${srv.url}/t?since=0&x=other`);
      streams.push(since);
      const one = await since.next();
      assert.equal(one.n, 1);
      const cursor = await StreamClient.open(`${srv.url}/t?cursor=${one.pubsub_cursor}`);
      streams.push(cursor);
      assert.equal((await cursor.next()).n, 2);
      await publish(`${srv.url}/other`, { n: 3 });
      await cursor.expectSilence();
    } finally {
      for (const s of streams) await s.close();
      await srv.close();
    }
  },
);

engineTest("SSE: private events reach a logged-in subscriber whose ACL covers them", async (t) => {
  const acl = { alice: { password: "pw", acl: { repo: ["git", "secret"] } } };
  const srv = await t.start({}, acl);
  const alice = await SseReader.open(`${srv.url}/git`, {
    headers: { Authorization: basic("alice", "pw") },
  });
  const anon = await SseReader.open(`${srv.url}/git`);
  try {
    const wrong = await fetch(`${srv.url}/git`, {
      headers: { Accept: "text/event-stream", Authorization: basic("alice", "nope") },
    });
    assert.equal(wrong.status, 401);
    await wrong.body?.cancel();
    await publish(`${srv.url}/private/git/secret`, { hidden: true });
    await publish(`${srv.url}/git/open`, { hidden: false });
    assert.equal((await alice.nextData()).hidden, true);
    assert.equal((await alice.nextData()).hidden, false);
    assert.equal((await anon.nextData()).hidden, false, "the anonymous page skips it");
  } finally {
    await alice.close();
    await anon.close();
    await srv.close();
  }
});

for (const engine of ["deno", "node"] as const) {
  Deno.test(`EventSource resumes with Last-Event-ID across a server restart with storage [${engine}]`, async () => {
    const data = await Deno.makeTempDir({ prefix: "denopubsub-sse-" });
    const storage = { backlog: { size: 100, storage: `${data}/history.log` } };
    const first = await writeFiles(withEngine({ server: storage }, engine));
    let app: App | null = await startApp(first);
    const port = app.server.port;
    const url = `http://127.0.0.1:${port}`;
    const source = new EventSource(`${url}/t`);
    const opened = new Promise((resolve) => source.onopen = resolve);
    const got: { id: string; n: unknown }[] = [];
    let wake = () => {};
    source.onmessage = (e) => {
      got.push({ id: e.lastEventId, n: JSON.parse(e.data).n });
      wake();
    };
    const until = (count: number) =>
      new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`got ${JSON.stringify(got)}`)), 10_000);
        wake = () => {
          if (got.length < count) return;
          clearTimeout(timer);
          resolve();
        };
        wake();
      });
    const second = await writeFiles(withEngine({ server: { ...storage, port } }, engine));
    try {
      await opened;
      await publish(`${url}/t`, { n: 1 });
      await until(1);
      await app.stop();
      app = await startApp(second);
      // Published while the EventSource waits to reconnect (its retry is 2 s).
      await publish(`${url}/t`, { n: 2 });
      await publish(`${url}/t`, { n: 3 });
      await until(3);
      await publish(`${url}/t`, { n: 4 });
      await until(4);
      assert.deepEqual(got.map((e) => e.n), [1, 2, 3, 4], "no gap and no duplicate");
      assert.ok(got.every((e) => /^[0-9a-f-]{36}$/.test(e.id)), "every event has its cursor");
    } finally {
      source.close();
      await app?.stop();
      await first.cleanup();
      await second.cleanup();
      await Deno.remove(data, { recursive: true });
    }
  });
}
