import assert from "node:assert/strict";
import { Histogram, MetricsRegistry } from "../lib/ops/metrics.ts";
import { engineTest } from "./helpers.ts";

Deno.test("MetricsRegistry.render() writes HELP and TYPE lines before the samples", () => {
  const registry = new MetricsRegistry();
  registry.counter("x_events_total", "Events seen.").inc(3);
  registry.reading("x_open", "Open now.", () => 7);
  assert.equal(
    registry.render(),
    [
      "# HELP x_events_total Events seen.",
      "# TYPE x_events_total counter",
      "x_events_total 3",
      "# HELP x_open Open now.",
      "# TYPE x_open gauge",
      "x_open 7",
      "",
    ].join("\n"),
  );
});

Deno.test("LabeledCounter renders one series per label set and escapes values", () => {
  const registry = new MetricsRegistry();
  const rejected = registry.labeledCounter("x_rejected_total", "Rejected.", ["source", "reason"]);
  assert.doesNotMatch(registry.render(), /^x_rejected_total\{/m, "no series before a count");
  rejected.inc(["http", "403"]);
  rejected.inc(["http", "403"]);
  rejected.inc(["sqs", 'a "quoted"\\reason\n']);
  const text = registry.render();
  assert.match(text, /^x_rejected_total\{source="http",reason="403"\} 2$/m);
  assert.match(text, /^x_rejected_total\{source="sqs",reason="a \\"quoted\\"\\\\reason\\n"\} 1$/m);
  assert.equal(rejected.get(["http", "403"]), 2);
  assert.equal(rejected.get(["http", "500"]), 0);
});

Deno.test("Histogram.observe() fills cumulative buckets, sum and count", () => {
  const h = new Histogram("x_seconds", "Latency.", [0.1, 0.01, 1]);
  for (const v of [0.005, 0.01, 0.05, 0.5, 2]) h.observe(v);
  const out: string[] = [];
  h.samples(out);
  assert.deepEqual(out, [
    'x_seconds_bucket{le="0.01"} 2',
    'x_seconds_bucket{le="0.1"} 3',
    'x_seconds_bucket{le="1"} 4',
    'x_seconds_bucket{le="+Inf"} 5',
    "x_seconds_sum 2.565",
    "x_seconds_count 5",
  ]);
});

Deno.test("MetricsRegistry.reading() replaces the function of an existing reading", () => {
  const registry = new MetricsRegistry();
  registry.reading("x_cache_hits_total", "Hits.", () => 1, "counter");
  registry.reading("x_cache_hits_total", "Hits.", () => 2, "counter");
  assert.match(registry.render(), /^# TYPE x_cache_hits_total counter\nx_cache_hits_total 2$/m);
  assert.equal(registry.names().length, 1);
  assert.throws(() => registry.counter("x_cache_hits_total", "again"), /already exists/);
});

/**
 * The metrics README's table lists, by name, with their types; without the rows marked
 * "cluster:", which only a node with `cluster.redis` serves (the cluster tests read them).
 */
async function documentedMetrics(): Promise<Map<string, string>> {
  const readme = await Deno.readTextFile(new URL("../README.md", import.meta.url));
  const rows = readme.matchAll(
    /^\| `(denopubsub_[a-z_]+)` +\| (counter|gauge|histogram) +\| (cluster:)?/gm,
  );
  return new Map([...rows].filter((row) => !row[3]).map(([, name, type]) => [name!, type!]));
}

engineTest(
  "GET /metrics serves every metric README lists, with its type, and no other",
  async (t) => {
    await using srv = await t.start({ admin: { port: 0 } });
    const res = await fetch(`http://127.0.0.1:${srv.app.admin!.port}/metrics`);
    const text = await res.text();
    const served = new Map(
      [...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map(([, name, type]) => [name!, type!]),
    );
    const documented = await documentedMetrics();
    assert.deepEqual(
      [...served].sort(([a], [b]) => a.localeCompare(b)),
      [...documented].sort(([a], [b]) => a.localeCompare(b)),
    );
    for (const name of served.keys()) assert.match(text, new RegExp(`^# HELP ${name} \\S`, "m"));
  },
);
