/**
 * History benchmarks: appending in memory and to the log file (with and without sync),
 * and looking up a cursor among 100,000 events by binary search against a linear scan.
 * Run: `deno bench --allow-read --allow-write bench/history_bench.ts`.
 *
 * @module
 */

import type { Event } from "../lib/core/event.ts";
import { openHistory } from "../lib/history/open.ts";
import { commitEvent } from "./history_fixtures.ts";

const BATCH = 1000;
const dir = await Deno.makeTempDir({ prefix: "history_bench_" });
const memory = await openHistory({ size: 100_000, maxAge: 0 });
const log = await openHistory({ size: 100_000, maxAge: 0, storage: `${dir}/log` });
const logSync = await openHistory({
  size: 100_000,
  maxAge: 0,
  storage: `${dir}/sync`,
  sync: true,
});
globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));

function batch(n = BATCH): Event[] {
  return Array.from({ length: n }, commitEvent);
}

Deno.bench("memory: append 1000", { group: "append", baseline: true }, (b) => {
  const events = batch();
  b.start();
  for (const ev of events) void memory.append(ev);
  b.end();
});

Deno.bench("log: append 1000 (caller's cost)", { group: "append" }, (b) => {
  const events = batch();
  b.start();
  for (const ev of events) void log.append(ev);
  b.end();
});

Deno.bench("log: append 1000, then flush (write + fdatasync)", { group: "append" }, async (b) => {
  const events = batch();
  b.start();
  for (const ev of events) void log.append(ev);
  await log.flush();
  b.end();
});

Deno.bench("log sync: append 1000 concurrently", { group: "append", n: 50 }, async (b) => {
  const events = batch();
  b.start();
  await Promise.all(events.map((ev) => logSync.append(ev)));
  b.end();
});

Deno.bench("log sync: append 100 one after another", { group: "append", n: 20 }, async (b) => {
  const events = batch(100);
  b.start();
  for (const ev of events) await logSync.append(ev);
  b.end();
});

const lookup = await openHistory({ size: 100_000, maxAge: 0 });
const stored = batch(100_000);
for (const ev of stored) void lookup.append(ev);
const wanted = stored[99_000]!;

Deno.bench("after(cursor) by binary search", { group: "lookup in 100k", baseline: true }, () => {
  lookup.after(wanted.cursor);
});

Deno.bench("after(cursor) by linear scan", { group: "lookup in 100k" }, () => {
  const i = stored.findIndex((ev) => ev.cursor === wanted.cursor);
  stored.slice(i + 1);
});

Deno.bench("since(timestamp)", { group: "lookup in 100k" }, () => {
  lookup.since(wanted.timestamp);
});
