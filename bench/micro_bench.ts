/**
 * Micro-benchmarks of the hot functions: topic matching (trie against a linear scan) and
 * event encoding. Run with `deno task bench:micro`.
 */

import { buildEvent } from "../lib/core/event.ts";
import { TopicTrie, toTopicSet } from "../lib/core/topics.ts";

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

const target = { path: "/git/repo/commit", topics: ["git", "repo", "commit"], private: false };
const small = JSON.stringify({ repo: "x", sha: "abc123", n: 1 });
const kilobyte = JSON.stringify({ repo: "x", log: "y".repeat(1000), n: 12345678901234567890 });
const multiline = JSON.stringify({ repo: "x", log: "y".repeat(1000) }, null, 2);

Deno.bench("encode 64 B event (kept text)", { group: "encode", baseline: true }, () => {
  buildEvent(target, small);
});

Deno.bench("encode 1 KB event (kept text)", { group: "encode" }, () => {
  buildEvent(target, kilobyte);
});

Deno.bench("encode 1 KB pretty-printed event (re-serialised)", { group: "encode" }, () => {
  buildEvent(target, multiline);
});

Deno.bench("encode 64 B event the naive way (parse + stringify)", { group: "encode" }, () => {
  new TextEncoder().encode(JSON.stringify({ ...JSON.parse(small), pubsub_topics: [] }) + "\n");
});
