import assert from "node:assert/strict";
import type { LoadResult } from "./load_spec.ts";
import { type Column, Results, runNotes, summaryTable } from "./report.ts";
import { selectScenarios } from "./scenarios.ts";

function publishRun(cpu: { generatorPct: number; otherPct: number }): LoadResult {
  return {
    subscribers: {
      requested: 0,
      opened: 0,
      failed: 0,
      firstError: null,
      openMs: 0,
      endedEarly: 0,
      slow: 0,
    },
    memory: null,
    publish: { sent: 1000, accepted: 1000, rejected: 0, firstError: null, perSecond: 50_000 },
    deliveries: {
      expected: 0,
      received: 0,
      lost: 0,
      perSecond: 0,
      withinSecondPct: 0,
      otherLines: 0,
    },
    cpu: { serverPct: 80, serverSeconds: 1, ...cpu },
    latency: { count: 0, p50: NaN, p99: NaN, max: 0 },
  };
}

const column: Column = { key: "nchan", label: "nginx + nchan", kind: "nchan" };

Deno.test("runNotes says when the generator, not the server, was the bottleneck", () => {
  const results = new Results();
  results.add("g", "nchan", publishRun({ generatorPct: 98, otherPct: 2 }));
  const notes = runNotes(results, selectScenarios(["g"]), [column], true);
  assert.equal(notes.length, 1);
  assert.match(notes[0]!, /\(g\) nginx \+ nchan: the generator used 98 % of its core/);
});

Deno.test("runNotes stays quiet about a run with a generator to spare", () => {
  const results = new Results();
  results.add("g", "nchan", publishRun({ generatorPct: 60, otherPct: 2 }));
  assert.deepEqual(runNotes(results, selectScenarios(["g"]), [column], true), []);
});

Deno.test("summaryTable divides each engine's publishes by its own runtime alone", () => {
  const results = new Results();
  const run = (perSecond: number) => {
    const r = publishRun({ generatorPct: 60, otherPct: 2 });
    return { ...r, publish: { ...r.publish, perSecond } };
  };
  results.add("g", "runtime:deno", run(40_000));
  results.add("g", "runtime:node", run(20_000));
  results.add("g", "ours:deno", run(34_000));
  results.add("g", "ours:node", run(10_000));
  const columns: Column[] = [
    { key: "runtime:deno", label: "Deno.serve alone", kind: "runtime", engine: "deno" },
    { key: "runtime:node", label: "node:http alone", kind: "runtime", engine: "node" },
    { key: "ours:deno", label: "DenoPubSub (deno)", kind: "ours", engine: "deno" },
    { key: "ours:node", label: "DenoPubSub (node)", kind: "ours", engine: "node" },
  ];
  const [header, , row] = summaryTable(results, selectScenarios(["g"]), columns).split("\n");
  assert.match(header!, /DenoPubSub \(deno\) ÷ Deno\.serve alone/);
  assert.match(header!, /DenoPubSub \(node\) ÷ node:http alone/);
  assert.match(row!, /\| 0\.85× \| ≥ 0\.8× runtime alone: met \|/);
  assert.match(row!, /\| 0\.50× \| ≥ 0\.8× runtime alone: \*\*not met\*\* \|/);
});
