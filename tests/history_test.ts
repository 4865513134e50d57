import assert from "node:assert/strict";
import { newCursor } from "../lib/core/event.ts";
import type { History, HistoryOptions } from "../lib/history/history.ts";
import { backends, event, ns, withHistory } from "./history_helpers.ts";

for (const backend of backends) {
  /** A test run with a fresh history of this backend. */
  const t = (
    name: string,
    opts: Omit<HistoryOptions, "storage">,
    fn: (h: History) => Promise<void>,
  ) => Deno.test(`[${backend.name}] ${name}`, () => withHistory(backend, opts, fn));

  t(
    "History.since(0) returns every appended event in order",
    { size: 100, maxAge: 0 },
    async (h) => {
      for (let n = 0; n < 5; n++) await h.append(event(n));
      assert.deepEqual(ns(h.since(0)), [0, 1, 2, 3, 4]);
      assert.equal(h.size, 5);
    },
  );

  t("History keeps only the newest `size` events", { size: 3, maxAge: 0 }, async (h) => {
    for (let n = 0; n < 10; n++) await h.append(event(n));
    assert.deepEqual(ns(h.since(0)), [7, 8, 9]);
    assert.equal(h.size, 3);
  });

  t(
    "History drops events older than maxAge, also from replays",
    { size: 100, maxAge: 60 },
    async (h) => {
      const now = Date.now();
      const old = [event(0, now - 120_000), event(1, now - 90_000)];
      for (const ev of old) await h.append(ev);
      for (let n = 2; n < 5; n++) await h.append(event(n, now - 30_000 + n));
      assert.deepEqual(ns(h.since(0)), [2, 3, 4]);
      assert.deepEqual(ns(h.since(now / 1000 - 100)), [2, 3, 4]);
      assert.equal(h.size, 3);
      const fromExpired = h.after(old[0]!.cursor);
      assert.deepEqual(ns(fromExpired.events), [2, 3, 4]);
      assert.equal(fromExpired.truncated, true);
    },
  );

  t("History.since() takes integer and fractional epoch seconds, inclusive", {
    size: 100,
    maxAge: 0,
  }, async (h) => {
    const base = Math.floor(Date.now() / 1000) - 10;
    const offsetsMs = [0, 400, 1000, 1600, 2000];
    for (const [n, ms] of offsetsMs.entries()) await h.append(event(n, base * 1000 + ms));
    assert.deepEqual(ns(h.since(base + 1)), [2, 3, 4]);
    assert.deepEqual(ns(h.since(base + 0.2)), [1, 2, 3, 4]);
    assert.deepEqual(ns(h.since(base + 1.5)), [3, 4]);
    assert.deepEqual(ns(h.since(base + 2)), [4]);
    assert.deepEqual(ns(h.since(base + 2.001)), []);
    assert.deepEqual(ns(h.since(0)), [0, 1, 2, 3, 4]);
    assert.deepEqual(h.since(NaN), []);
  });

  t(
    "History.after() a known cursor returns the events after it",
    { size: 100, maxAge: 0 },
    async (h) => {
      const evs = [0, 1, 2, 3].map((n) => event(n));
      for (const ev of evs) await h.append(ev);
      assert.deepEqual(ns(h.after(evs[1]!.cursor).events), [2, 3]);
      assert.equal(h.after(evs[1]!.cursor).truncated, false);
      assert.deepEqual(h.after(evs[3]!.cursor), { events: [], truncated: false, unknown: false });
    },
  );

  t("History.after() a cursor older than all retained replays all, truncated", {
    size: 2,
    maxAge: 0,
  }, async (h) => {
    const evs = [0, 1, 2, 3, 4].map((n) => event(n));
    for (const ev of evs) await h.append(ev);
    const older = h.after(evs[0]!.cursor);
    assert.deepEqual(ns(older.events), [3, 4]);
    assert.equal(older.truncated, true);
    // The newest dropped event: the client has missed nothing that is not retained.
    const justDropped = h.after(evs[2]!.cursor);
    assert.deepEqual(ns(justDropped.events), [3, 4]);
    assert.equal(justDropped.truncated, false);
  });

  t("History.after() a cursor from before the history existed is truncated", {
    size: 10,
    maxAge: 0,
  }, async (h) => {
    const before = "00000000-0001-7000-8000-000000000000";
    assert.deepEqual(h.after(before), { events: [], truncated: true, unknown: false });
    await h.append(event(1));
    assert.deepEqual(ns(h.after(before).events), [1]);
    assert.equal(h.after(before).truncated, true);
  });

  t(
    "History.after() a cursor it cannot place replays nothing and says it is unknown",
    { size: 100, maxAge: 0 },
    async (h) => {
      await h.append(event(0));
      const between = newCursor();
      await h.append(event(1));
      const unknown = { events: [], truncated: false, unknown: true };
      assert.deepEqual(h.after(between), unknown);
      assert.deepEqual(h.after(newCursor()), unknown, "newer than the newest event");
      assert.deepEqual(h.after("not-a-cursor"), unknown);
      const pypubsub = "3f1c2b8e-9a4d-4c2e-8f6b-1d2e3f4a5b6c"; // a UUIDv4
      assert.deepEqual(h.after(pypubsub), unknown);
    },
  );

  t("History.newest is the newest cursor appended", { size: 1, maxAge: 0 }, async (h) => {
    assert.equal(h.newest, "");
    const evs = [0, 1].map((n) => event(n));
    for (const ev of evs) await h.append(ev);
    assert.equal(h.newest, evs[1]!.cursor);
  });

  t("History with size 0 keeps nothing", { size: 0, maxAge: 0 }, async (h) => {
    const evs = [0, 1].map((n) => event(n));
    for (const ev of evs) await h.append(ev);
    assert.equal(h.size, 0);
    assert.deepEqual(h.since(0), []);
    assert.deepEqual(h.after(evs[1]!.cursor), { events: [], truncated: false, unknown: false });
    assert.deepEqual(h.after(evs[0]!.cursor), { events: [], truncated: true, unknown: false });
    assert.equal(h.newest, evs[1]!.cursor);
  });

  t(
    "History.append() rejects a cursor that is not after the newest",
    { size: 10, maxAge: 0 },
    async (h) => {
      const first = event(0);
      const second = event(1);
      await h.append(second);
      assert.throws(() => h.append(first), RangeError);
      assert.throws(() => h.append(second), RangeError);
      assert.deepEqual(ns(h.since(0)), [1]);
    },
  );

  t("History.since() and after() return pages of at most `limit` events", {
    size: 100,
    maxAge: 0,
  }, async (h) => {
    for (let n = 0; n < 7; n++) await h.append(event(n));
    const first = h.since(0, 3);
    assert.deepEqual(ns(first), [0, 1, 2]);
    const second = h.after(first.at(-1)!.cursor, 3);
    assert.deepEqual(ns(second.events), [3, 4, 5]);
    assert.deepEqual(ns(h.after(second.events.at(-1)!.cursor, 3).events), [6]);
    assert.deepEqual(ns(h.after("00000000-0001-7000-8000-000000000000", 2).events), [0, 1]);
  });

  t(
    "History lookups stay correct after the ring wraps many times",
    { size: 50, maxAge: 0 },
    async (h) => {
      const evs = Array.from({ length: 1234 }, (_, n) => event(n));
      await Promise.all(evs.map((ev) => h.append(ev)));
      assert.deepEqual(ns(h.since(0)), Array.from({ length: 50 }, (_, i) => 1184 + i));
      assert.equal(h.after(evs[1200]!.cursor).events.length, 33);
      assert.equal(h.after(evs[1183]!.cursor).truncated, false);
      assert.equal(h.after(evs[1182]!.cursor).truncated, true);
    },
  );
}
