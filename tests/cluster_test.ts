/**
 * Three DenoPubSub node processes (two on the `deno` engine, one on `node`) sharing a real
 * throwaway `redis-server`: one order for everyone, cursors that work on every node, and
 * a node killed with `kill -9` while its clients are streaming.
 */

import assert from "node:assert/strict";
import { cursorOfEntry } from "../lib/cluster/entry_id.ts";
import { isCursor } from "../lib/core/event.ts";
import { type Line, publish, StreamClient } from "./helpers.ts";
import { startRedis } from "./fixtures/redis.ts";
import { clusterPatch, readEvents, spawnCluster } from "./cluster_helpers.ts";

const PER_NODE = 40;

Deno.test("a cluster of three node processes", async (t) => {
  const redis = await startRedis();
  const cluster = await spawnCluster(
    (["deno", "node", "deno"] as const).map((engine) => clusterPatch(redis, engine)),
  ).catch(async (err) => {
    await redis.cleanup();
    throw err;
  });
  const [a, b, c] = [cluster.nodes[0]!, cluster.nodes[1]!, cluster.nodes[2]!];
  let everything: Line[] = [];
  try {
    await t.step("concurrent publishes on every node reach every node in one order", async () => {
      const streams = await Promise.all(
        cluster.nodes.map((node) => StreamClient.open(`${node.url}/order`)),
      );
      try {
        await Promise.all(cluster.nodes.map(async (node, k) => {
          for (let i = 0; i < PER_NODE; i++) {
            assert.equal(await publish(`${node.url}/order/n${k}`, { k, i }), 202);
          }
        }));
        const seen = await Promise.all(streams.map((s) => readEvents(s, 3 * PER_NODE)));
        assert.deepEqual(seen[1], seen[0], "node 2 saw another order or other bytes");
        assert.deepEqual(seen[2], seen[0], "node 3 saw another order or other bytes");
        everything = seen[0]!;
        for (let k = 0; k < 3; k++) {
          const mine = everything.filter((line) => line.k === k).map((line) => line.i);
          assert.deepEqual(mine, Array.from({ length: PER_NODE }, (_, i) => i));
        }
        const cursors = everything.map((line) => line.pubsub_cursor as string);
        assert.ok(cursors.every((cursor) => isCursor(cursor)), "every cursor is a UUIDv7");
        assert.deepEqual([...cursors].sort(), cursors, "cursors increase in stream order");
        assert.equal(new Set(cursors).size, cursors.length);
        await Promise.all(streams.map((s) => s.expectSilence(150)));
      } finally {
        await Promise.all(streams.map((s) => s.close()));
      }
    });

    await t.step("a cursor taken on one node replays the rest on another, then live", async () => {
      const middle = everything[49]!.pubsub_cursor as string;
      const resumed = await StreamClient.open(`${c.url}/order`, {
        headers: { "X-Fetch-Since-Cursor": middle },
      });
      try {
        assert.equal(resumed.response.headers.get("x-backlog-truncated"), null);
        assert.deepEqual(await readEvents(resumed, everything.length - 50), everything.slice(50));
        assert.equal(await publish(`${a.url}/order/after`, { after: 1 }), 202);
        assert.equal((await resumed.next()).after, 1);
        await resumed.expectSilence(150);
      } finally {
        await resumed.close();
      }
    });

    await t.step("a cursor the stream never had replays nothing and goes live", async () => {
      const future = cursorOfEntry(`${Date.now() + 3_600_000}-0`);
      const stream = await StreamClient.open(`${b.url}/order`, {
        headers: { "X-Fetch-Since-Cursor": future },
      });
      try {
        await stream.expectSilence(100);
        assert.equal(await publish(`${c.url}/order/later`, { later: 1 }), 202);
        assert.equal((await stream.next()).later, 1);
      } finally {
        await stream.close();
      }
    });

    await t.step("X-Fetch-Since replays by time on any node, from the Redis clock", async () => {
      const first = everything[0]!;
      const since = await StreamClient.open(`${b.url}/order/n0`, {
        headers: { "X-Fetch-Since": String(first.pubsub_timestamp) },
      });
      try {
        const n0 = everything.filter((line) => line.k === 0);
        assert.deepEqual(await readEvents(since, n0.length), n0);
        await since.expectSilence(150);
      } finally {
        await since.close();
      }
    });

    await t.step("kill -9 of a node mid-stream: its clients resume on another", async () => {
      const total = 100;
      const stream = await StreamClient.open(`${a.url}/kill`);
      const got: Line[] = [];
      let killed = false;
      const publishing = (async () => {
        for (let i = 0; i < total; i++) {
          assert.equal(await publish(`${c.url}/kill`, { i }), 202);
          await new Promise((resolve) => setTimeout(resolve, 5));
        }
      })();
      try {
        while (got.length < total) {
          try {
            got.push(await stream.next(5000));
          } catch (err) {
            assert.ok(killed, `the stream failed before the kill: ${(err as Error).message}`);
            break;
          }
          if (got.length === 15) {
            killed = true;
            await a.kill();
          }
        }
      } finally {
        await stream.close();
      }
      assert.ok(killed && got.length >= 15 && got.length < total, `${got.length} before the kill`);
      const last = got.at(-1)!.pubsub_cursor as string;
      const resumed = await StreamClient.open(`${b.url}/kill`, {
        headers: { "X-Fetch-Since-Cursor": last },
      });
      try {
        await publishing;
        got.push(...await readEvents(resumed, total - got.length));
        await resumed.expectSilence(150);
      } finally {
        await resumed.close();
      }
      assert.deepEqual(got.map((line) => line.i), Array.from({ length: total }, (_, i) => i));
    });
  } finally {
    await cluster.stop();
    await redis.cleanup();
  }
});
