/**
 * Faults of a cluster with a real `redis-server`: Redis going away and coming back (with
 * and without a clean shutdown), and a node that falls behind the trimmed stream. The
 * nodes run in this process, over both engines, except the one that is stopped with
 * SIGSTOP, which is a process of its own.
 */

import assert from "node:assert/strict";
import { engineTest, type Line, publish, startServer, StreamClient } from "./helpers.ts";
import { startRedis, type TestRedis } from "./fixtures/redis.ts";
import { clusterPatch, readEvents, spawnCluster, untilStatus } from "./cluster_helpers.ts";

/** Reads lines (keepalives included) for `ms`; returns the events and keepalives seen. */
async function readFor(stream: StreamClient, ms: number) {
  const events: Line[] = [];
  let keepalives = 0;
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    try {
      const line = await stream.next(Math.max(1, deadline - Date.now()));
      if ("stillalive" in line) keepalives++;
      else events.push(line);
    } catch (err) {
      if (!(err as Error).message.startsWith("timed out")) throw err;
    }
  }
  return { events, keepalives };
}

async function withRedis(aof: boolean, fn: (redis: TestRedis) => Promise<void>): Promise<void> {
  const redis = await startRedis({ aof });
  try {
    await fn(redis);
  } finally {
    await redis.cleanup();
  }
}

engineTest(
  "Redis outage: 503 with Retry-After, streams stay, not ready, then no gap",
  (t) =>
    withRedis(true, async (redis) => {
      const patch = clusterPatch(redis, t.engine, {
        server: { keepalive: 0.2 },
        admin: { port: 0 },
      });
      const server = await startServer(patch);
      const readyz = `http://127.0.0.1:${server.app.admin!.port}/readyz`;
      const stream = await StreamClient.open(`${server.url}/outage`, { keepalives: true });
      try {
        for (let i = 0; i < 3; i++) assert.equal(await publish(`${server.url}/outage`, { i }), 202);
        const before = (await readFor(stream, 300)).events;
        assert.deepEqual(before.map((line) => line.i), [0, 1, 2]);

        await redis.stop();
        const res = await fetch(`${server.url}/outage`, { method: "PUT", body: '{"i":-1}' });
        const reason = await res.text();
        assert.equal(res.status, 503);
        assert.equal(res.headers.get("retry-after"), "1");
        assert.match(reason, /^Redis .*\n$/);
        await untilStatus(readyz, 503);
        const during = await readFor(stream, 1000);
        assert.deepEqual(during.events, []);
        assert.ok(during.keepalives >= 1, "keepalives go on during the outage");

        await redis.start();
        await untilStatus(readyz, 200);
        for (let i = 3; i < 6; i++) assert.equal(await publish(`${server.url}/outage`, { i }), 202);
        const after = (await readFor(stream, 300)).events;
        assert.deepEqual(after.map((line) => line.i), [3, 4, 5]);

        const replay = await StreamClient.open(`${server.url}/outage`, {
          headers: { "X-Fetch-Since": "0" },
        });
        try {
          assert.deepEqual(await readEvents(replay, 6), [...before, ...after]);
          await replay.expectSilence(100);
        } finally {
          await replay.close();
        }
      } finally {
        await stream.close();
        await server.close();
      }
    }),
);

Deno.test("Redis killed and restarted mid-stream with AOF: each acknowledged event once", () =>
  withRedis(true, async (redis) => {
    const nodes = [
      await startServer(clusterPatch(redis, "deno")),
      await startServer(clusterPatch(redis, "node")),
    ];
    const streams = await Promise.all(nodes.map((n) => StreamClient.open(`${n.url}/aof`)));
    try {
      const total = 150;
      const acked: number[] = [];
      let restarting: Promise<void> | null = null;
      for (let i = 0; i < total; i++) {
        if (i === 50) restarting = redis.kill().then(() => redis.start());
        const status = await publish(`${nodes[i % 2]!.url}/aof`, { i });
        assert.ok(status === 202 || status === 503, `publish ${i}: ${status}`);
        if (status === 202) acked.push(i);
        await new Promise((resolve) => setTimeout(resolve, i < 50 ? 1 : 10));
      }
      await restarting;
      assert.ok(acked.length < total, "some publishes fell into the outage");
      assert.ok(acked.includes(total - 1), "publishing works again after the restart");
      const seen = await Promise.all(streams.map(async (stream) => {
        const lines = await readEvents(stream, acked.length);
        const extra = await readFor(stream, 300);
        return [...lines, ...extra.events].map((line) => line.i as number);
      }));
      assert.deepEqual(seen[1], seen[0], "both nodes delivered the same events in one order");
      const delivered = seen[0]!;
      assert.equal(new Set(delivered).size, delivered.length, "no event twice");
      assert.deepEqual(delivered.filter((i) => acked.includes(i)), acked, "every ack, in order");
      // A publish cut off by the kill may have reached Redis unacknowledged: at most one.
      assert.ok(delivered.length - acked.length <= 1, `${delivered.length} for ${acked.length}`);
    } finally {
      await Promise.all(streams.map((s) => s.close()));
      await Promise.all(nodes.map((n) => n.close()));
    }
  }));

Deno.test("a node that fell behind the trimmed stream says so and replays mark the hole", () =>
  withRedis(false, async (redis) => {
    // Both keep the stream at its floor of 1,000 entries (nodes must agree on backlog.size).
    const writer = await startServer(clusterPatch(redis, "deno", {}, 1000));
    const cluster = await spawnCluster([clusterPatch(redis, "node", { admin: { port: 0 } }, 10)]);
    const behind = cluster.nodes[0]!;
    let stream = await StreamClient.open(`${behind.url}/hole`);
    try {
      assert.equal(await publish(`${writer.url}/hole`, { i: 0 }), 202);
      let last = (await stream.next()).pubsub_cursor as string;
      behind.signal("SIGSTOP");
      // More than the stream keeps (1,000 entries at least, trimmed approximately).
      const total = 1600;
      let next = 1;
      await Promise.all(Array.from({ length: 8 }, async () => {
        while (next < total) assert.equal(await publish(`${writer.url}/hole`, { i: next++ }), 202);
      }));
      behind.signal("SIGCONT");
      let cut = 0;
      try {
        for (; cut < total; cut++) last = (await stream.next(5000)).pubsub_cursor as string;
      } catch (err) {
        assert.match((err as Error).message, /stream ended|error|reset|closed/i);
      }
      assert.ok(cut < total - 1, `the stream was cut after ${cut} more events`);
      await stream.close();
      stream = await StreamClient.open(`${behind.url}/hole`, {
        headers: { "X-Fetch-Since-Cursor": last },
      });
      assert.equal(stream.response.headers.get("x-backlog-truncated"), "true");
      // The replay and the live events after it, up to the newest event, with no gap where
      // they overlap what the writer holds.
      const stored = writer.app.server.history.since(0).map((ev) => ev.cursor);
      const received = [(await stream.next()).pubsub_cursor as string];
      while (received.at(-1) !== stored.at(-1)) {
        received.push((await stream.next()).pubsub_cursor as string);
      }
      assert.ok(received[0]! > last, "the replay starts after the hole");
      const from = received.findIndex((cursor) => stored.includes(cursor));
      assert.deepEqual(received.slice(from), stored.slice(stored.indexOf(received[from]!)));
      assert.match(behind.log(), /WARN {2}events were trimmed from the stream .*missed=\d+/);
      const metrics = await (await fetch(`${behind.adminUrl}/metrics`)).text();
      const missed = Number(/^denopubsub_bus_missed_events_total (\d+)$/m.exec(metrics)?.[1]);
      assert.ok(missed > 0, `missed ${missed}`);
    } finally {
      behind.signal("SIGCONT");
      await stream.close();
      await cluster.stop();
      await writer.close();
    }
  }));

Deno.test("a node does not start without Redis, and says so in one line", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  await assert.rejects(
    () => startServer({ cluster: { redis: `redis://127.0.0.1:${port}/0` } }),
    (err: Error) => {
      assert.match(
        err.message,
        /^cannot reach Redis at redis:\/\/127\.0\.0\.1:\d+\/0: .*ECONNREFUSED/,
      );
      assert.ok(!err.message.includes("\n"), "one line");
      return true;
    },
  );
});

Deno.test("without a cluster section the service runs alone: no bus, no Redis check", async () => {
  const server = await startServer({ admin: { port: 0 } });
  try {
    assert.equal(server.app.bus, null);
    assert.equal(server.app.server.bus, null);
    const ready = await fetch(`http://127.0.0.1:${server.app.admin!.port}/readyz`);
    assert.equal(await ready.text(), "ready\n");
    assert.equal(await publish(`${server.url}/alone`, {}), 202);
  } finally {
    await server.close();
  }
});
