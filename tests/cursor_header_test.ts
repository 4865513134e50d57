import assert from "node:assert/strict";
import { engineTest, type Line, publish, StreamClient } from "./helpers.ts";

const BACKLOG = { server: { backlog: { size: 100, max_age: "1h" } } };

engineTest("a stream answer carries the newest cursor the server has", async (t) => {
  const srv = await t.start(BACKLOG);
  try {
    const before = await StreamClient.open(`${srv.url}/t`);
    assert.equal(before.response.headers.get("x-newest-cursor"), null, "no event yet");
    await publish(`${srv.url}/other`, { n: 1 });
    await publish(`${srv.url}/t`, { n: 2 });
    const second = (await before.next()).pubsub_cursor;
    await before.close();
    const after = await StreamClient.open(`${srv.url}/t`);
    try {
      assert.equal(after.response.headers.get("x-newest-cursor"), second);
    } finally {
      await after.close();
    }
  } finally {
    await srv.close();
  }
});

engineTest("a cursor the history cannot place is answered with X-Cursor-Unknown", async (t) => {
  const srv = await t.start(BACKLOG);
  const streams: StreamClient[] = [];
  const open = async (cursor: string) => {
    const sub = await StreamClient.open(`${srv.url}/t`, {
      headers: { "X-Fetch-Since-Cursor": cursor },
    });
    streams.push(sub);
    return sub;
  };
  try {
    const live = await open("3f1c2b8e-9a4d-4c2e-8f6b-1d2e3f4a5b6c");
    assert.equal(live.response.headers.get("x-cursor-unknown"), "true", "a PyPubSub UUIDv4");
    await publish(`${srv.url}/t`, { n: 1 });
    await publish(`${srv.url}/t`, { n: 2 });
    const seen: Line[] = [await live.next(), await live.next()];
    assert.deepEqual(seen.map((l) => l.n), [1, 2], "an unknown cursor still goes live");
    const known = await open(seen[0]!.pubsub_cursor as string);
    assert.equal(known.response.headers.get("x-cursor-unknown"), null);
    assert.equal((await known.next()).n, 2);
    const future = (seen[1]!.pubsub_cursor as string).replace(/^[0-9a-f]{8}/, "ffffffff");
    const ahead = await open(future);
    assert.equal(ahead.response.headers.get("x-cursor-unknown"), "true", "newer than newest");
    await ahead.expectSilence();
  } finally {
    for (const sub of streams) await sub.close();
    await srv.close();
  }
});
