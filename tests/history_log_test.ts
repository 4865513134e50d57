import assert from "node:assert/strict";
import { buildEvent } from "../lib/core/event.ts";
import { HistoryError, openHistory } from "../lib/history/open.ts";
import { waitFor } from "./helpers.ts";
import { captureLog, endOf, event, ns, watchSyncs, withTempDir } from "./history_helpers.ts";

async function lines(path: string): Promise<string[]> {
  return (await Deno.readTextFile(path)).split("\n").filter((l) => l !== "");
}

Deno.test("log history: a restart keeps events, cursors and timestamps exactly", () =>
  withTempDir(async (dir) => {
    const storage = `${dir}/h.log`;
    const target = { path: "/private/a/b", topics: ["a", "b"], private: true };
    const evs = [
      event(1),
      buildEvent(target, '{"big":12345678901234567890,"s":"é\\u2028\\t"}'),
      event(3, Date.now() - 5000),
    ];
    const h = await openHistory({ size: 10, maxAge: 0, storage });
    for (const ev of evs) await h.append(ev);
    await h.close();
    const again = await openHistory({ size: 10, maxAge: 0, storage });
    try {
      assert.deepEqual(again.since(0).map((e) => e.toStored()), evs.map((e) => e.toStored()));
      assert.deepEqual(again.after(evs[0]!.cursor).events.map((e) => e.cursor), [
        evs[1]!.cursor,
        evs[2]!.cursor,
      ]);
      const next = event(4, Date.now() - 60_000);
      await again.append(next);
      assert.ok(next.cursor > evs[2]!.cursor);
    } finally {
      await again.close();
    }
  }));

Deno.test("log history: reopening applies the configured size and max age", () =>
  withTempDir(async (dir) => {
    const storage = `${dir}/h.log`;
    const h = await openHistory({ size: 100, maxAge: 0, storage });
    const now = Date.now();
    for (let n = 0; n < 10; n++) await h.append(event(n, now - (10 - n) * 60_000));
    await h.close();
    const bySize = await openHistory({ size: 4, maxAge: 0, storage });
    assert.deepEqual(ns(bySize.since(0)), [6, 7, 8, 9]);
    await bySize.close();
    const byAge = await openHistory({ size: 100, maxAge: 150, storage });
    assert.deepEqual(ns(byAge.since(0)), [8, 9]);
    await byAge.close();
  }));

Deno.test("log history: dropped events leave the file within about a second", () =>
  withTempDir(async (dir) => {
    const storage = `${dir}/h.log`;
    const h = await openHistory({ size: 10, maxAge: 0, storage });
    try {
      for (let n = 0; n < 100; n++) await h.append(event(n));
      await h.flush();
      assert.equal((await lines(storage)).length, 101);
      await new Promise((resolve) => setTimeout(resolve, 1500));
      const after = await lines(storage);
      assert.equal(after.length, 11);
      assert.match(after[1]!, /\{"n":90,/);
      await h.append(event(100));
      await h.flush();
      assert.equal((await lines(storage)).length, 12);
    } finally {
      await h.close();
    }
    const again = await openHistory({ size: 10, maxAge: 0, storage });
    assert.deepEqual(ns(again.since(0)), [91, 92, 93, 94, 95, 96, 97, 98, 99, 100]);
    await again.close();
  }));

for (const sync of [false, true]) {
  Deno.test(`log history: compaction under steady appends loses and repeats nothing (sync: ${sync})`, () =>
    withTempDir(async (dir) => {
      const storage = `${dir}/h.log`;
      const h = await openHistory({ size: 500, maxAge: 0, storage, sync });
      let n = 0;
      const until = Date.now() + 2300;
      try {
        while (Date.now() < until) {
          const writes = [];
          for (let i = 0; i < 50; i++) writes.push(h.append(event(n++)));
          await Promise.all(writes);
          await new Promise((resolve) => setTimeout(resolve, 5));
        }
      } finally {
        await h.close();
      }
      const logged = await captureLog(async () => {
        const again = await openHistory({ size: 500, maxAge: 0, storage });
        assert.deepEqual(ns(again.since(0)), Array.from({ length: 500 }, (_, i) => n - 500 + i));
        await again.close();
      });
      assert.deepEqual(logged, []);
      assert.ok((await lines(storage)).length < n, "the file was compacted");
    }));
}

Deno.test("log history: events loaded from the file stay readable across a compaction", () =>
  withTempDir(async (dir) => {
    const storage = `${dir}/h.log`;
    const h = await openHistory({ size: 100, maxAge: 0, storage });
    const evs = Array.from({ length: 100 }, (_, n) => event(n));
    for (const ev of evs) await h.append(ev);
    await h.close();
    // Opening with a smaller size leaves 90 dropped records: the file is compacted at once.
    const again = await openHistory({ size: 10, maxAge: 0, storage });
    try {
      assert.deepEqual(ns(again.after(evs[95]!.cursor).events), [96, 97, 98, 99]);
      for (let waited = 0; (await lines(storage)).length > 11; waited += 20) {
        assert.ok(waited < 5000, "the file was not compacted");
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      const stored = again.since(0).map((e) => e.toStored());
      assert.deepEqual(stored, evs.slice(90).map((e) => e.toStored()));
      await again.append(event(100));
    } finally {
      await again.close();
    }
    const third = await openHistory({ size: 10, maxAge: 0, storage });
    assert.deepEqual(ns(third.since(0)), [91, 92, 93, 94, 95, 96, 97, 98, 99, 100]);
    await third.close();
  }));

Deno.test("log history: after a restart, a replay in pages returns every event once", () =>
  withTempDir(async (dir) => {
    const storage = `${dir}/h.log`;
    const h = await openHistory({ size: 1000, maxAge: 0, storage });
    for (let n = 0; n < 1000; n++) void h.append(event(n));
    await h.close();
    const again = await openHistory({ size: 1000, maxAge: 0, storage });
    try {
      const seen: number[] = [];
      let page = again.since(0, 64);
      while (page.length > 0) {
        seen.push(...ns(page));
        if (page.length < 64) break;
        page = again.after(page.at(-1)!.cursor, 64).events;
      }
      assert.deepEqual(seen, Array.from({ length: 1000 }, (_, n) => n));
      assert.deepEqual(ns(again.since(0)), seen);
    } finally {
      await again.close();
    }
  }));

Deno.test("log history: a record with intact framing but corrupt fields is left out", () =>
  withTempDir(async (dir) => {
    const storage = `${dir}/h.log`;
    const h = await openHistory({ size: 10, maxAge: 0, storage });
    for (let n = 0; n < 3; n++) await h.append(event(n));
    await h.close();
    const text = await Deno.readTextFile(storage);
    await Deno.writeTextFile(storage, text.replace('"private":false', '"private":fals3'));
    const logged = await captureLog(async () => {
      const again = await openHistory({ size: 10, maxAge: 0, storage });
      assert.deepEqual(ns(again.since(0)), [1, 2]);
      await again.close();
    });
    assert.equal(logged.length, 1, logged.join("\n"));
    assert.match(logged[0]!, /WARN .*skipped unreadable records .*records=1/);
  }));

Deno.test("log history: with sync, append resolves once a sync has covered the event", () =>
  withTempDir(async (dir) => {
    const storage = `${dir}/h.log`;
    const h = await openHistory({ size: 10, maxAge: 0, storage, sync: true });
    try {
      using syncs = watchSyncs();
      for (let n = 0; n < 3; n++) {
        const ev = event(n);
        await h.append(ev);
        const resolved = performance.now();
        const end = await endOf(storage, ev.cursor);
        assert.ok(syncs.calls.some((c) => c.done <= resolved && c.size >= end), `event ${n}`);
      }
    } finally {
      await h.close();
    }
  }));

Deno.test("log history: without sync, an appended event is synced to disk by the once-a-second timer", () =>
  withTempDir(async (dir) => {
    const storage = `${dir}/h.log`;
    const h = await openHistory({ size: 10, maxAge: 0, storage });
    try {
      using syncs = watchSyncs();
      const ev = event(0);
      await h.append(ev);
      assert.deepEqual(syncs.calls, [], "append resolves without waiting for a sync");
      await waitFor(() => Deno.readTextFileSync(storage).includes(ev.cursor), 1000, "the write");
      const end = await endOf(storage, ev.cursor);
      // The timer fires every second; twice that leaves room for a busy machine.
      await waitFor(() => syncs.calls.some((c) => c.size >= end), 2000, "the timer's sync");
    } finally {
      await h.close();
    }
  }));

for (
  const [what, damage] of [
    ["a torn last record", (text: string) => text.slice(0, -40)],
    ["garbage at the end", (text: string) => text + '\0\0\0garbage\n{"cursor":\n\0\0'],
    ["a corrupt record in the middle", (text: string) => {
      const l = text.split("\n");
      l[3] = l[3]!.replace('"n":2', '"n":22');
      return l.join("\n");
    }],
  ] as const
) {
  Deno.test(`log history: ${what} is skipped with one log line`, () =>
    withTempDir(async (dir) => {
      const storage = `${dir}/h.log`;
      const h = await openHistory({ size: 100, maxAge: 0, storage });
      for (let n = 0; n < 5; n++) await h.append(event(n));
      await h.close();
      await Deno.writeTextFile(storage, damage(await Deno.readTextFile(storage)));
      let kept: number[] = [];
      const logged = await captureLog(async () => {
        const again = await openHistory({ size: 100, maxAge: 0, storage });
        kept = ns(again.since(0));
        await again.append(event(5));
        await again.close();
      });
      assert.equal(logged.length, 1, logged.join("\n"));
      assert.match(logged[0]!, /WARN .*skipped corrupt or torn records/);
      const expected = what.includes("middle")
        ? [0, 1, 3, 4]
        : what.includes("torn")
        ? [0, 1, 2, 3]
        : [0, 1, 2, 3, 4];
      assert.deepEqual(kept, expected);
      const relogged = await captureLog(async () => {
        const third = await openHistory({ size: 100, maxAge: 0, storage });
        assert.deepEqual(ns(third.since(0)), [...expected, 5]);
        await third.close();
      });
      assert.deepEqual(relogged, []);
    }));
}

Deno.test("log history: opening cuts a torn tail off the file, before anything is appended", () =>
  withTempDir(async (dir) => {
    const storage = `${dir}/h.log`;
    const h = await openHistory({ size: 100, maxAge: 0, storage });
    for (let n = 0; n < 3; n++) await h.append(event(n));
    await h.close();
    const intact = await Deno.readTextFile(storage);
    const torn = intact.split("\n").at(-2)!.slice(0, 30);
    await Deno.writeTextFile(storage, intact + torn);
    await captureLog(async () => {
      const again = await openHistory({ size: 100, maxAge: 0, storage });
      try {
        assert.equal(await Deno.readTextFile(storage), intact);
      } finally {
        await again.close();
      }
    });
  }));

Deno.test("log history: a file that is not a history file is refused, untouched", () =>
  withTempDir(async (dir) => {
    const storage = `${dir}/notes.txt`;
    await Deno.writeTextFile(storage, "my notes\n");
    await assert.rejects(
      () => openHistory({ size: 10, maxAge: 0, storage }),
      (err: Error) => err instanceof HistoryError && /is not a history file/.test(err.message),
    );
    assert.equal(await Deno.readTextFile(storage), "my notes\n");
  }));

Deno.test("log history: a path that is not a regular file is refused", () =>
  withTempDir(async (dir) => {
    await assert.rejects(
      () => openHistory({ size: 10, maxAge: 0, storage: dir }),
      (err: Error) => err instanceof HistoryError && err.message.includes(dir),
    );
  }));

Deno.test("log history: a file in use by another history is refused", () =>
  withTempDir(async (dir) => {
    const storage = `${dir}/h.log`;
    const h = await openHistory({ size: 10, maxAge: 0, storage });
    try {
      await assert.rejects(
        () => openHistory({ size: 10, maxAge: 0, storage }),
        (err: Error) => err instanceof HistoryError && /in use/.test(err.message),
      );
    } finally {
      await h.close();
    }
  }));

Deno.test("log history: an empty file becomes a new history", () =>
  withTempDir(async (dir) => {
    const storage = `${dir}/h.log`;
    await Deno.writeTextFile(storage, "");
    const h = await openHistory({ size: 10, maxAge: 0, storage });
    await h.append(event(1));
    await h.close();
    const again = await openHistory({ size: 10, maxAge: 0, storage });
    assert.deepEqual(ns(again.since(0)), [1]);
    await again.close();
  }));

/**
 * Runs the writer fixture, kills it with SIGKILL after `runMs`, and returns the cursors
 * it acknowledged with the time each arrived.
 */
async function killedWriter(storage: string, mode: string, runMs: number) {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-read",
      "--allow-write",
      new URL("./fixtures/history_writer.ts", import.meta.url).pathname,
      storage,
      mode,
    ],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const acked: { cursor: string; at: number }[] = [];
  const reading = (async () => {
    let rest = "";
    for await (const text of child.stdout.pipeThrough(new TextDecoderStream())) {
      const parts = (rest + text).split("\n");
      rest = parts.pop()!;
      for (const cursor of parts) acked.push({ cursor, at: Date.now() });
    }
  })();
  while (acked.length === 0) await new Promise((resolve) => setTimeout(resolve, 20));
  await new Promise((resolve) => setTimeout(resolve, runMs));
  const killedAt = Date.now();
  child.kill("SIGKILL");
  const status = await child.status;
  await reading;
  assert.equal(status.signal, "SIGKILL");
  return { acked, killedAt };
}

for (const mode of ["default", "sync"]) {
  Deno.test(`log history: kill -9 keeps every acknowledged event (${mode} writes)`, () =>
    withTempDir(async (dir) => {
      const storage = `${dir}/h.log`;
      const { acked, killedAt } = await killedWriter(storage, mode, 1500);
      const h = await openHistory({ size: 100_000, maxAge: 0, storage });
      try {
        const stored = new Set(h.since(0).map((e) => e.cursor));
        const required = mode === "sync" ? acked : acked.filter((a) => a.at < killedAt - 1000);
        assert.ok(required.length > 50, `only ${required.length} events acknowledged`);
        const lost = required.filter((a) => !stored.has(a.cursor));
        assert.deepEqual(lost, []);
      } finally {
        await h.close();
      }
    }));
}
