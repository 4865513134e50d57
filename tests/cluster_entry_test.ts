/**
 * The pieces of the cluster bus that need no Redis: cursors made from stream entry ids,
 * events built from entries, gap detection from event numbers, the `cluster` section.
 */

import assert from "node:assert/strict";
import { parse } from "yaml";
import { parseConfig } from "../lib/config.ts";
import { EntryError, entryValues, eventOfEntry } from "../lib/cluster/entry.ts";
import {
  cursorOfEntry,
  entryOfCursor,
  parseEntryId,
  previousEntryId,
} from "../lib/cluster/entry_id.ts";
import { Sequence } from "../lib/cluster/sequence.ts";
import { StreamHistory } from "../lib/cluster/stream_history.ts";
import { buildEvent, cursorTimeMs, isCursor } from "../lib/core/event.ts";
import { ConfigError } from "../lib/section.ts";
import { captureWarnings } from "./helpers.ts";

const MAX_SEQ = "18446744073709551615";

Deno.test("cursorOfEntry() makes a UUIDv7 whose time is the entry's milliseconds", () => {
  const cursor = cursorOfEntry("1796161095627-3");
  assert.equal(cursor.length, 36);
  assert.ok(isCursor(cursor), cursor);
  assert.equal(cursorTimeMs(cursor), 1796161095627);
});

Deno.test("cursorOfEntry() sorts as the entry ids do, whatever the sequence number", () => {
  const ids = [
    "0-0",
    "0-1",
    "1-0",
    "1796161095627-0",
    "1796161095627-9",
    "1796161095627-10",
    "1796161095627-4095",
    "1796161095627-4096",
    `1796161095627-${2n ** 48n}`,
    `1796161095627-${2n ** 62n - 1n}`,
    `1796161095627-${2n ** 62n}`,
    `1796161095627-${MAX_SEQ}`,
    "1796161095628-0",
    `${2 ** 48 - 1}-${MAX_SEQ}`,
  ];
  const cursors = ids.map(cursorOfEntry);
  assert.deepEqual([...cursors].sort(), cursors);
  assert.equal(new Set(cursors).size, ids.length);
  for (const cursor of cursors) assert.ok(isCursor(cursor), cursor);
});

Deno.test("entryOfCursor() gives back the entry id of every cursor made from one", () => {
  for (const id of ["0-0", "1-2", "1796161095627-3", `1796161095627-${MAX_SEQ}`]) {
    assert.equal(entryOfCursor(cursorOfEntry(id)), id);
  }
});

Deno.test("parseEntryId() refuses what is not an entry id a cursor can hold", () => {
  assert.deepEqual(parseEntryId("12-34"), { ms: 12, seq: 34n });
  for (const bad of ["", "12", "12-", "-3", "a-1", "1-2-3", `${2 ** 48}-0`, `1-${2n ** 64n}`]) {
    assert.equal(parseEntryId(bad), null, bad);
  }
  assert.throws(() => cursorOfEntry("nope"), RangeError);
});

Deno.test("previousEntryId() steps back over the sequence number and the millisecond", () => {
  assert.equal(previousEntryId("5-3"), "5-2");
  assert.equal(previousEntryId("5-0"), `4-${MAX_SEQ}`);
  assert.equal(previousEntryId("0-0"), "0-0");
  assert.ok(cursorOfEntry(previousEntryId("5-0")) < cursorOfEntry("5-0"));
});

const target = { path: "/private/a/b", topics: ["a", "b"], private: true };

Deno.test("eventOfEntry() builds the event the publisher's node would build", () => {
  const [path, topics, priv, body] = entryValues(target, '{"n": 1}');
  const event = eventOfEntry("1796161095627-3", {
    n: "7",
    path: path!,
    topics: topics!,
    private: priv!,
    body: body!,
  });
  const cursor = cursorOfEntry("1796161095627-3");
  const expected = buildEvent(target, '{"n": 1}', 1796161095627, cursor);
  assert.equal(event.json, expected.json);
  assert.equal(event.cursor, cursor);
  assert.equal(event.timestamp, 1796161095.627);
  assert.equal(event.private, true);
  assert.deepEqual(event.topics, ["a", "b"]);
});

Deno.test("eventOfEntry() refuses entries that no node wrote", () => {
  const good = { n: "1", path: "/a", topics: '["a"]', private: "0", body: "{}" };
  const bad: Record<string, string>[] = [
    { ...good, body: "[1]" },
    { ...good, topics: "a" },
    { ...good, topics: "[1]" },
    { n: "1", topics: '["a"]', body: "{}" },
  ];
  for (const fields of bad) {
    assert.throws(() => eventOfEntry("1-1", fields), EntryError, JSON.stringify(fields));
  }
});

Deno.test("Sequence.check() tells the next number from a gap and a restart", () => {
  const seq = new Sequence();
  assert.deepEqual(seq.check(5), { kind: "first", before: 4 });
  assert.deepEqual(seq.check(6), { kind: "next" });
  assert.deepEqual(seq.check(10), { kind: "gap", missed: 3 });
  assert.deepEqual(seq.check(1), { kind: "reset" });
  assert.deepEqual(seq.check(2), { kind: "next" });
  assert.equal(seq.last, 2);
});

Deno.test("StreamHistory.restart() drops what it held; older cursors find a truncated replay", () => {
  const history = new StreamHistory({ size: 10, maxAge: 0 });
  const event = (id: string) =>
    eventOfEntry(id, { n: "1", path: "/a", topics: '["a"]', private: "0", body: "{}" });
  const [a, b, c] = [event("1796161095627-0"), event("1796161095627-1"), event("1796161095700-0")];
  history.add(a);
  history.add(b);
  assert.deepEqual(history.after(a.cursor), { events: [b], truncated: false, unknown: false });
  history.restart(cursorOfEntry(previousEntryId("1796161095700-0")));
  history.add(c);
  assert.equal(history.size, 1);
  assert.deepEqual(history.after(a.cursor), { events: [c], truncated: true, unknown: false });
  const lastBeforeHole = cursorOfEntry(previousEntryId("1796161095700-0"));
  assert.deepEqual(history.after(lastBeforeHole), {
    events: [c],
    truncated: false,
    unknown: false,
  });
});

function clusterConfig(cluster: unknown, backlog: Record<string, unknown> = {}) {
  return parseConfig({ server: { backlog }, cluster }, "pubsub.yaml");
}

Deno.test("parseConfig() reads cluster.redis and defaults cluster.stream", () => {
  const config = clusterConfig({ redis: "rediss://u:pw@redis.example.org:6380/2" });
  assert.deepEqual(config.cluster, {
    redis: "rediss://u:pw@redis.example.org:6380/2",
    stream: "denopubsub",
  });
  assert.equal(clusterConfig({ redis: "redis://h", stream: "events" }).cluster?.stream, "events");
  assert.equal(parseConfig(parse("server: {}"), "pubsub.yaml").cluster, null);
});

Deno.test("parseConfig() refuses a cluster without a usable Redis URL", () => {
  const cases: [unknown, RegExp][] = [
    [{}, /pubsub\.yaml: cluster\.redis: is required/],
    [{ redis: "http://h:6379" }, /cluster\.redis: must start with redis:\/\/ or rediss:\/\//],
    [{ redis: "127.0.0.1:6379" }, /cluster\.redis: "127\.0\.0\.1:6379" is not a URL/],
    [{ redis: "not a url" }, /cluster\.redis: "not a url" is not a URL/],
    [{ redis: "redis://h:6379/db0" }, /cluster\.redis: the path must be a database number/],
    [{ redis: "redis://h", stream: " " }, /cluster\.stream: must not be empty/],
  ];
  for (const [cluster, message] of cases) {
    assert.throws(() => clusterConfig(cluster), (err: Error) => {
      assert.ok(err instanceof ConfigError);
      assert.match(err.message, message);
      return true;
    });
  }
});

Deno.test("parseConfig() refuses a history file or sync beside a cluster", () => {
  const cluster = { redis: "redis://127.0.0.1:6379/0" };
  assert.throws(
    () => clusterConfig(cluster, { size: 10, storage: "/var/lib/x.log" }),
    /pubsub\.yaml: server\.backlog\.storage: cannot be used with cluster: .*appendonly yes/,
  );
  assert.throws(
    () => clusterConfig(cluster, { size: 10, sync: true }),
    /pubsub\.yaml: server\.backlog\.sync: cannot be used with cluster/,
  );
  assert.equal(clusterConfig(cluster, { size: 10, sync: false }).server.backlog.size, 10);
});

Deno.test("parseConfig() warns about unknown keys under cluster", () => {
  const warnings = captureWarnings(() => clusterConfig({ redis: "redis://h", node: "a" }));
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /unknown configuration key ignored .*cluster\.node/);
});
