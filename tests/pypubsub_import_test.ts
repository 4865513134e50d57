import assert from "node:assert/strict";
import { cursorTimeMs, isCursor } from "../lib/core/event.ts";
import { openHistory } from "../lib/history/open.ts";
import { importPyPubSubBacklog, parseBacklogEntry } from "../lib/history/pypubsub_import.ts";
import { backends, captureLog, withHistory, withTempDir } from "./history_helpers.ts";

/** Three entries as PyPubSub 0.7 writes them, then a blank line and two bad ones. */
const BACKLOG = [
  `{"timestamp": 1700000000.123456, "topics": ["git", "commit"], "json": {"sha": "abc", "pubsub_timestamp": 1700000000.123456, "pubsub_topics": ["git", "commit"], "pubsub_path": "/git/commit", "pubsub_cursor": "4c1f4d6e-2b1a-4d8e-9d7f-0a1b2c3d4e5f"}, "private": false}`,
  `{"timestamp": 1700000001.5, "topics": ["infra", "secrets"], "json": {"n": 12345678901234567890, "pubsub_path": "/private/infra/secrets"}, "private": true}`,
  `{"timestamp": 1700000001.5, "topics": [], "json": {"all": true}, "private": false}`,
  ``,
  `{"timestamp": NaN, "topics": [], "json": {}, "private": false}`,
  `{"timestamp": 1700000002, "topics": ["a"], "json": [1, 2], "private": false}`,
].join("\n") + "\n";

Deno.test("parseBacklogEntry() rebuilds the path and replaces the envelope", () => {
  const ev = parseBacklogEntry(BACKLOG.split("\n")[0]!)!;
  assert.equal(ev.timestamp, 1700000000.123456);
  assert.deepEqual(ev.topics, ["git", "commit"]);
  assert.equal(ev.path, "/git/commit");
  assert.equal(ev.private, false);
  assert.ok(isCursor(ev.cursor));
  assert.ok(cursorTimeMs(ev.cursor) >= 1700000000123);
  assert.deepEqual(JSON.parse(ev.json), {
    sha: "abc",
    pubsub_timestamp: 1700000000.123456,
    pubsub_topics: ["git", "commit"],
    pubsub_path: "/git/commit",
    pubsub_cursor: ev.cursor,
  });
});

Deno.test("parseBacklogEntry() marks private entries and keeps numbers exact", () => {
  const ev = parseBacklogEntry(BACKLOG.split("\n")[1]!)!;
  assert.equal(ev.path, "/private/infra/secrets");
  assert.equal(ev.private, true);
  assert.deepEqual(ev.topics, ["infra", "secrets"]);
  assert.match(ev.json, /^\{"n":12345678901234567890,"pubsub_path":"\/private\/infra\/secrets",/);
  assert.equal(parseBacklogEntry(BACKLOG.split("\n")[2]!)!.path, "/");
});

Deno.test("parseBacklogEntry() refuses lines that are not backlog entries", () => {
  for (const line of ["nope", "[]", '{"topics": []}', ...BACKLOG.split("\n").slice(4, 6)]) {
    assert.equal(parseBacklogEntry(line), undefined, line);
  }
});

for (const backend of backends) {
  Deno.test(`[${backend.name}] importPyPubSubBacklog() appends entries in order`, () =>
    withTempDir(async (dir) => {
      await Deno.writeTextFile(`${dir}/backlog.json`, BACKLOG);
      await withHistory(backend, { size: 100, maxAge: 0 }, async (h) => {
        const result = await importPyPubSubBacklog(`${dir}/backlog.json`, h);
        assert.deepEqual(result, { imported: 3, skipped: 2 });
        const events = h.since(0);
        assert.deepEqual(events.map((e) => e.path), [
          "/git/commit",
          "/private/infra/secrets",
          "/",
        ]);
        assert.ok(events[0]!.cursor < events[1]!.cursor && events[1]!.cursor < events[2]!.cursor);
        assert.deepEqual(h.since(1700000001).map((e) => e.path), ["/private/infra/secrets", "/"]);
        assert.deepEqual(h.after(events[0]!.cursor).events, events.slice(1));
      });
    }));
}

Deno.test("log history: a PyPubSub backlog at the storage path is converted", () =>
  withTempDir(async (dir) => {
    const storage = `${dir}/backlog.json`;
    await Deno.writeTextFile(storage, BACKLOG);
    const logged = await captureLog(async () => {
      const h = await openHistory({ size: 100, maxAge: 0, storage });
      assert.deepEqual(h.since(0).map((e) => e.timestamp), [
        1700000000.123456,
        1700000001.5,
        1700000001.5,
      ]);
      await h.close();
    });
    assert.equal(logged.length, 1);
    assert.match(logged[0]!, /converted a PyPubSub backlog .* events=3 skipped=2/);
    assert.equal(await Deno.readTextFile(`${storage}.pypubsub`), BACKLOG);
    const again = await openHistory({ size: 100, maxAge: 0, storage });
    assert.equal(again.size, 3);
    await again.close();
  }));

Deno.test("tools/import_backlog.ts imports a backlog into a history file", () =>
  withTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/backlog.json`, BACKLOG);
    const storage = `${dir}/history.log`;
    const script = new URL("../tools/import_backlog.ts", import.meta.url).pathname;
    const { code, stderr } = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-read", "--allow-write", script, `${dir}/backlog.json`, storage],
      stdout: "null",
    }).output();
    const text = new TextDecoder().decode(stderr);
    assert.equal(code, 0, text);
    assert.match(text, /imported PyPubSub backlog .*imported=3 skipped=2/);
    const h = await openHistory({ size: 100, maxAge: 0, storage });
    // A fresh process makes the cursors from the original timestamps.
    assert.deepEqual(h.since(0).map((e) => cursorTimeMs(e.cursor)), [
      1700000000123,
      1700000001500,
      1700000001500,
    ]);
    await h.close();
  }));
