/**
 * Micro-benchmarks of the hot functions: topic matching (trie against a linear scan), event
 * building from a body's bytes (against the decode-parse-encode way it replaced), and the
 * JSON object check (against `JSON.parse`). Run with `deno task bench:micro`.
 */

import { buildEvent, newCursor } from "../lib/core/event.ts";
import { scanObject } from "../lib/core/json_scan.ts";
import { parsePublishPath, TopicTrie, toTopicSet } from "../lib/core/topics.ts";

const SUBSCRIBERS = 10_000;
const words = Array.from({ length: 2_000 }, (_, i) => `topic${i}`);
let seed = 7;
const rand = (n: number) => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % n;
const sets = Array.from(
  { length: SUBSCRIBERS },
  () => toTopicSet(Array.from({ length: 1 + rand(3) }, () => words[rand(words.length)]!)),
);
const trie = new TopicTrie<number>();
sets.forEach((set, i) => trie.add(set, i));
const event = toTopicSet(["topic1", "topic2", "topic3", "topic4", "topic5"]);
const eventSet = new Set(event);

Deno.bench("match 10k subscriptions: trie", { group: "match", baseline: true }, () => {
  let hits = 0;
  trie.match(event, () => hits++);
});

Deno.bench("match 10k subscriptions: linear subset scan", { group: "match" }, () => {
  let hits = 0;
  for (const set of sets) if (set.every((t) => eventSet.has(t))) hits++;
});

const target = parsePublishPath("/git/repo/commit");
const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });
const small = encoder.encode(JSON.stringify({ repo: "x", sha: "abc123", n: 1 }));
const kilobyte = encoder.encode(
  JSON.stringify({ repo: "x", log: "y".repeat(1000), n: 12345678901234567890 }),
);
const multiline = encoder.encode(JSON.stringify({ repo: "x", log: "y".repeat(1000) }, null, 2));
const enveloped = encoder.encode(JSON.stringify({ repo: "x", pubsub_path: "/forged" }));

Deno.bench("build a 64 B event from its bytes (scan + splice)", {
  group: "encode",
  baseline: true,
}, () => {
  buildEvent(target, small);
});

Deno.bench("build a 1 KB event from its bytes", { group: "encode" }, () => {
  buildEvent(target, kilobyte);
});

Deno.bench("build a 1 KB pretty-printed event (line breaks dropped)", { group: "encode" }, () => {
  buildEvent(target, multiline);
});

Deno.bench("build a 64 B event with a pubsub_ key (parse + re-serialise)", {
  group: "encode",
}, () => {
  buildEvent(target, enveloped);
});

/** Publishing before issue 15: decode, parse to validate, splice the text, encode it. */
function decodeParseSplice(body: Uint8Array): Uint8Array {
  const text = decoder.decode(body);
  JSON.parse(text);
  const envelope = `"pubsub_timestamp":${Date.now() / 1000},"pubsub_topics":${
    JSON.stringify(target.topics)
  },"pubsub_path":${JSON.stringify(target.path)},"pubsub_cursor":"${newCursor()}"}`;
  return encoder.encode(text.trim().slice(0, -1) + "," + envelope + "\n");
}

Deno.bench("64 B the way before: decode, JSON.parse, splice the text, encode", {
  group: "encode",
}, () => {
  decodeParseSplice(small);
});

Deno.bench("1 KB the way before: decode, JSON.parse, splice the text, encode", {
  group: "encode",
}, () => {
  decodeParseSplice(kilobyte);
});

Deno.bench("check 64 B: scanObject", { group: "check 64 B", baseline: true }, () => {
  scanObject(small);
});

Deno.bench("check 64 B: decode + JSON.parse", { group: "check 64 B" }, () => {
  JSON.parse(decoder.decode(small));
});

Deno.bench("check 1 KB: scanObject", { group: "check 1 KB", baseline: true }, () => {
  scanObject(kilobyte);
});

Deno.bench("check 1 KB: decode + JSON.parse", { group: "check 1 KB" }, () => {
  JSON.parse(decoder.decode(kilobyte));
});
