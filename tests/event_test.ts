import assert from "node:assert/strict";
import { buildEvent, cursorTimeMs, isCursor, newCursor, PayloadError } from "../lib/core/event.ts";

const target = { path: "/a/b", topics: ["a", "b"], private: false };

Deno.test("buildEvent() appends the envelope and keeps the publisher's text", () => {
  const ev = buildEvent(target, '{"z": 1, "a": "é\\u00e9", "n": 1.50}', 1700000000123);
  assert.ok(ev.json.startsWith('{"z": 1, "a": "é\\u00e9", "n": 1.50,"pubsub_timestamp":'));
  const parsed = JSON.parse(ev.json);
  assert.deepEqual(Object.keys(parsed), [
    "z",
    "a",
    "n",
    "pubsub_timestamp",
    "pubsub_topics",
    "pubsub_path",
    "pubsub_cursor",
  ]);
  assert.equal(parsed.pubsub_timestamp, 1700000000.123);
  assert.deepEqual(parsed.pubsub_topics, ["a", "b"]);
  assert.equal(parsed.pubsub_path, "/a/b");
  assert.equal(parsed.pubsub_cursor, ev.cursor);
  assert.equal(new TextDecoder().decode(ev.line), ev.json + "\n");
});

Deno.test("buildEvent() keeps big integers exactly, also when re-serialising", () => {
  const fast = buildEvent(target, '{"n":12345678901234567890}');
  assert.match(fast.json, /"n":12345678901234567890,/);
  const slow = buildEvent(target, '{\n"n": 12345678901234567890,\n"pubsub_path": "x"}');
  assert.match(slow.json, /^\{"n":12345678901234567890,"pubsub_path":"\/a\/b",/);
  assert.ok(!slow.json.includes("\n"));
});

Deno.test("buildEvent() overwrites envelope fields a publisher sent", () => {
  const ev = buildEvent(target, '{"pubsub_topics": ["x"], "k": [1.0, {"d": 2e3}]}');
  const parsed = JSON.parse(ev.json);
  assert.deepEqual(parsed.pubsub_topics, ["a", "b"]);
  assert.equal(Object.keys(parsed)[0], "pubsub_topics");
  assert.match(ev.json, /"k":\[1\.0,\{"d":2e3\}\]/);
});

Deno.test("buildEvent() handles an empty object", () => {
  const ev = buildEvent(target, " {} ");
  assert.match(ev.json, /^\{"pubsub_timestamp":/);
  JSON.parse(ev.json);
});

Deno.test("buildEvent() rejects anything but one JSON object with PayloadError", () => {
  for (const body of ["[1]", '"s"', "1", "null", "", "{", "NaN", '{"a": Infinity}', "{} {}"]) {
    assert.throws(() => buildEvent(target, body), PayloadError, body);
  }
});

Deno.test("Event.oldschoolLine adds a NUL after the newline", () => {
  const ev = buildEvent(target, "{}");
  assert.equal(ev.oldschoolLine.length, ev.line.length + 1);
  assert.equal(ev.oldschoolLine.at(-1), 0);
  assert.equal(ev.oldschoolLine.at(-2), 10);
});

Deno.test("newCursor() makes UUIDv7s that sort in creation order", () => {
  const now = Date.now();
  const cursors = Array.from({ length: 5000 }, () => newCursor(now));
  assert.ok(cursors.every(isCursor));
  assert.deepEqual([...cursors].sort(), cursors);
  assert.equal(new Set(cursors).size, cursors.length);
  assert.ok(cursorTimeMs(cursors[0]!) >= now);
  assert.equal(cursors[0]!.length, 36);
});

Deno.test("cursorTimeMs() reads the time back", () => {
  const c = newCursor(Date.now() + 10_000);
  assert.ok(Math.abs(cursorTimeMs(c) - (Date.now() + 10_000)) < 1000);
});
