import assert from "node:assert/strict";
import { busyUs, type CpuProfile, summarize } from "./cpu_profile.ts";

const frame = (functionName: string, url = "", lineNumber = 0) => ({
  functionName,
  url,
  lineNumber,
});

// root → handle (lib/a.ts:10) → parse (lib/b.ts:3); root → (garbage collector); root → (idle)
const profile: CpuProfile = {
  nodes: [
    { id: 1, callFrame: frame("(root)"), children: [2, 4, 5] },
    { id: 2, callFrame: frame("handle", "file:///repo/lib/a.ts", 9), children: [3] },
    { id: 3, callFrame: frame("parse", "file:///repo/lib/b.ts", 2) },
    { id: 4, callFrame: frame("(garbage collector)") },
    { id: 5, callFrame: frame("(idle)") },
  ],
  startTime: 0,
  endTime: 100,
  samples: [3, 3, 2, 4, 5, 5],
  timeDeltas: [0, 10, 900, 10, 10, 10],
};

Deno.test("summarize() splits busy samples into self and total time per function", () => {
  // The 900 µs gap (the process was not running) does not count: a sample is one interval.
  const lines = summarize(profile, "file:///repo/", 10);
  const byName = new Map(lines.map((l) => [l.name, l]));
  assert.deepEqual(byName.get("parse (lib/b.ts:3)"), {
    name: "parse (lib/b.ts:3)",
    selfUs: 20,
    totalUs: 20,
  });
  assert.deepEqual(byName.get("handle (lib/a.ts:10)"), {
    name: "handle (lib/a.ts:10)",
    selfUs: 10,
    totalUs: 30,
  });
  assert.equal(byName.get("(garbage collector)")?.selfUs, 10);
  assert.equal(byName.has("(idle)"), false, "idle samples are not work");
  assert.equal(lines[0]!.name, "parse (lib/b.ts:3)", "busiest first");
  assert.equal(busyUs(lines), 40);
});

Deno.test("summarize() counts a recursive function once per sample", () => {
  const recursive: CpuProfile = {
    nodes: [
      { id: 1, callFrame: frame("(root)"), children: [2] },
      { id: 2, callFrame: frame("walk", "file:///repo/t.ts", 0), children: [3] },
      { id: 3, callFrame: frame("walk", "file:///repo/t.ts", 0) },
    ],
    startTime: 0,
    endTime: 10,
    samples: [3],
    timeDeltas: [5],
  };
  const [walk] = summarize(recursive, "file:///repo/", 5);
  assert.deepEqual(walk, { name: "walk (t.ts:1)", selfUs: 5, totalUs: 5 });
});
