import assert from "node:assert/strict";
import {
  parsePublishPath,
  parseSubscription,
  TopicError,
  TopicTrie,
  toTopicSet,
} from "../lib/core/topics.ts";

Deno.test("parseSubscription() ignores order, repeats and empty segments", () => {
  assert.deepEqual(parseSubscription("/b//a/b/"), [["a", "b"]]);
});

Deno.test("parseSubscription() splits comma batches and drops empty ones", () => {
  assert.deepEqual(parseSubscription("/apples/red,oranges/ripe,"), [
    ["apples", "red"],
    ["oranges", "ripe"],
  ]);
  assert.deepEqual(parseSubscription("/a,/a"), [["a"]]);
});

Deno.test("parseSubscription() of a path without topics is one empty set (everything)", () => {
  assert.deepEqual(parseSubscription("/"), [[]]);
  assert.deepEqual(parseSubscription("/,"), [[]]);
});

Deno.test("parseSubscription() percent-decodes segments", () => {
  assert.deepEqual(parseSubscription("/caf%C3%A9/a%20b"), [["a b", "café"]]);
});

Deno.test("parseSubscription() rejects undecodable segments with TopicError", () => {
  assert.throws(() => parseSubscription("/bad%E0%A4%A"), TopicError);
  assert.throws(() => parseSubscription("/%zz"), TopicError);
});

Deno.test("parsePublishPath() strips a leading private marker from the topics only", () => {
  assert.deepEqual(parsePublishPath("/private/git/repo"), {
    path: "/private/git/repo",
    topics: ["git", "repo"],
    private: true,
  });
  assert.deepEqual(parsePublishPath("/git/private"), {
    path: "/git/private",
    topics: ["git", "private"],
    private: false,
  });
});

Deno.test("parsePublishPath() keeps commas and decodes the path", () => {
  assert.deepEqual(parsePublishPath("/a,b/c%2Fd"), {
    path: "/a,b/c/d",
    topics: ["a,b", "c/d"],
    private: false,
  });
});

function matches(trie: TopicTrie<string>, topics: string[]): string[] {
  const hits = new Set<string>();
  trie.match(toTopicSet(topics), (v) => hits.add(v));
  return [...hits].sort();
}

Deno.test("TopicTrie.match() follows DESIGN.md's matching table", () => {
  const subs = ["/fruits", "/fruits/apples", "/fruits/apples/red", "/fruits/oranges", "/apples"];
  const trie = new TopicTrie<string>();
  for (const s of subs) for (const set of parseSubscription(s)) trie.add(set, s);
  const table: [string[], string[]][] = [
    [["fruits"], ["/fruits"]],
    [["fruits", "apples"], ["/apples", "/fruits", "/fruits/apples"]],
    [["fruits", "apples", "red"], ["/apples", "/fruits", "/fruits/apples", "/fruits/apples/red"]],
    [["fruits", "oranges"], ["/fruits", "/fruits/oranges"]],
  ];
  for (const [event, expected] of table) assert.deepEqual(matches(trie, event), expected);
});

Deno.test("TopicTrie.match() ignores topic order and repeats", () => {
  const trie = new TopicTrie<string>();
  trie.add(toTopicSet(["b", "a"]), "s");
  assert.deepEqual(matches(trie, ["b", "c", "a", "b"]), ["s"]);
});

Deno.test("TopicTrie.match() visits the empty set for every event", () => {
  const trie = new TopicTrie<string>();
  trie.add([], "all");
  assert.deepEqual(matches(trie, []), ["all"]);
  assert.deepEqual(matches(trie, ["x"]), ["all"]);
});

Deno.test("TopicTrie.delete() removes entries and prunes empty nodes", () => {
  const trie = new TopicTrie<string>();
  trie.add(["a", "b"], "s1");
  trie.add(["a"], "s2");
  trie.delete(["a", "b"], "s1");
  trie.delete(["a", "b"], "s1");
  assert.equal(trie.size, 1);
  assert.deepEqual(matches(trie, ["a", "b"]), ["s2"]);
  trie.delete(["a"], "s2");
  assert.equal(trie.size, 0);
  assert.deepEqual(matches(trie, ["a", "b"]), []);
});

/** A seeded 32-bit generator (mulberry32): every step stays within exact integers. */
function generator(seed: number): (n: number) => number {
  return (n) => {
    seed = (seed + 0x6d2b79f5) | 0;
    let x = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return (((x ^ (x >>> 14)) >>> 0) % n);
  };
}

Deno.test("TopicTrie.match() agrees with a linear subset scan on random data", () => {
  const rand = generator(42);
  const words = Array.from({ length: 12 }, (_, i) => `t${i}`);
  const pick = (length: number) => Array.from({ length }, () => words[rand(words.length)]!);
  const trie = new TopicTrie<string>();
  const subs: [string, readonly string[]][] = [];
  for (let i = 0; i < 400; i++) {
    const set = toTopicSet(pick(1 + rand(3)));
    subs.push([`s${i}`, set]);
    trie.add(set, `s${i}`);
  }
  const hits: number[] = [];
  for (let i = 0; i < 300; i++) {
    const event = pick(rand(7));
    const expected = subs.filter(([, set]) => set.every((t) => event.includes(t)))
      .map(([name]) => name).sort();
    assert.deepEqual(matches(trie, event), expected, `event ${event}`);
    hits.push(expected.length);
  }
  // The data must be able to catch a wrong match: many distinct subscriptions of one to
  // three topics, events matching many of them, and events matching none.
  assert.ok(new Set(subs.map(([, set]) => set.join("/"))).size >= 150, "distinct sets");
  assert.ok(hits.filter((n) => n > 10).length > 200, "events matching many subscriptions");
  assert.ok(hits.filter((n) => n === 0).length > 20, "events matching none");
});
