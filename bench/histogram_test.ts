import { equal, ok } from "node:assert/strict";
import { LatencyHistogram } from "./histogram.ts";

function exactPercentile(sorted: number[], p: number): number {
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

Deno.test("LatencyHistogram.percentile() stays within 1 % of the exact value", () => {
  const h = new LatencyHistogram();
  const samples: number[] = [];
  let seed = 7;
  for (let i = 0; i < 20_000; i++) {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    const ms = Math.exp((seed / 2 ** 31) * 12 - 4); // 0.02 ms to ~3 s, log-uniform
    samples.push(ms);
    h.record(ms);
  }
  samples.sort((a, b) => a - b);
  for (const p of [1, 50, 90, 99, 99.9]) {
    const exact = exactPercentile(samples, p);
    const got = h.percentile(p);
    ok(Math.abs(got - exact) <= exact * 0.01 + 0.001, `p${p}: ${got} vs ${exact}`);
  }
  equal(h.max, samples.at(-1));
  equal(h.count, samples.length);
});

Deno.test("LatencyHistogram counts negative samples as zero and is NaN when empty", () => {
  const h = new LatencyHistogram();
  equal(Number.isNaN(h.percentile(50)), true);
  h.record(-3);
  equal(h.percentile(50), 0);
});
