import assert from "node:assert/strict";
import { TtlCache } from "../lib/auth/ttl_cache.ts";

Deno.test("TtlCache.get() forgets an entry once its TTL has passed", () => {
  let now = 1000;
  const cache = new TtlCache<string>(10, () => now);
  cache.set("k", "v", 500);
  now = 1499;
  assert.equal(cache.get("k"), "v");
  now = 1500;
  assert.equal(cache.get("k"), undefined);
  assert.equal(cache.size, 0);
});

Deno.test("TtlCache.set() with a TTL of 0 stores nothing", () => {
  const cache = new TtlCache<string>(10);
  cache.set("k", "v", 0);
  assert.equal(cache.get("k"), undefined);
});

Deno.test("TtlCache.set() drops the oldest entry when full", () => {
  const cache = new TtlCache<number>(3);
  for (const [i, key] of ["a", "b", "c"].entries()) cache.set(key, i, 60_000);
  cache.set("a", 9, 60_000);
  cache.set("d", 3, 60_000);
  assert.equal(cache.size, 3);
  assert.equal(cache.get("b"), undefined);
  assert.deepEqual(["a", "c", "d"].map((k) => cache.get(k)), [9, 2, 3]);
});

Deno.test("TtlCache.clear() drops every entry", () => {
  const cache = new TtlCache<number>(3);
  cache.set("a", 1, 60_000);
  cache.clear();
  assert.equal(cache.get("a"), undefined);
});
