/**
 * Several nodes on one host behind one port: two node processes on the `node` engine bind
 * the same port (SO_REUSEPORT) and the kernel spreads connections over them; the bus
 * makes them one service. When one is killed, its clients reconnect to the same port and
 * resume on the other with their cursors.
 */

import assert from "node:assert/strict";
import { type Line, publish, StreamClient } from "./helpers.ts";
import { startRedis } from "./fixtures/redis.ts";
import { clusterPatch, readEvents, spawnCluster } from "./cluster_helpers.ts";

const STREAMS = 20;

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

async function subscribers(adminUrl: string): Promise<number> {
  const text = await (await fetch(`${adminUrl}/metrics`)).text();
  return Number(/^denopubsub_subscribers (\d+)$/m.exec(text)?.[1]);
}

Deno.test("two nodes share one port; when one is killed its clients resume on the other", async () => {
  const redis = await startRedis();
  const port = freePort();
  const patch = clusterPatch(redis, "node", { server: { port }, admin: { port: 0 } });
  const cluster = await spawnCluster([patch, patch]).catch(async (err) => {
    await redis.cleanup();
    throw err;
  });
  const [first, second] = [cluster.nodes[0]!, cluster.nodes[1]!];
  const url = `http://127.0.0.1:${port}`;
  const streams: StreamClient[] = [];
  try {
    assert.equal(first.url, url);
    assert.equal(second.url, url);
    for (let i = 0; i < STREAMS; i++) streams.push(await StreamClient.open(`${url}/port`));
    const onFirst = await subscribers(first.adminUrl!);
    assert.equal(onFirst + await subscribers(second.adminUrl!), STREAMS);
    assert.ok(onFirst > 0 && onFirst < STREAMS, `${onFirst} of ${STREAMS} streams on one node`);

    for (let i = 0; i < 5; i++) assert.equal(await publish(`${url}/port`, { i }), 202);
    const seen: Line[][] = await Promise.all(streams.map((s) => readEvents(s, 5)));

    await first.kill();
    for (let i = 5; i < 10; i++) assert.equal(await publish(`${url}/port`, { i }), 202);
    let resumed = 0;
    for (const [k, stream] of streams.entries()) {
      const lines = seen[k]!;
      try {
        lines.push(...await readEvents(stream, 5, 2000));
        continue;
      } catch {
        // Its node was killed: reconnect through the same port with the last cursor.
      }
      await stream.close();
      streams[k] = await StreamClient.open(`${url}/port`, {
        headers: { "X-Fetch-Since-Cursor": lines[4]!.pubsub_cursor as string },
      });
      resumed++;
      lines.push(...await readEvents(streams[k]!, 5));
    }
    assert.equal(resumed, onFirst, "every stream of the killed node resumed");
    for (const lines of seen) {
      assert.deepEqual(lines.map((line) => line.i), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    }
    await Promise.all(streams.map((s) => s.expectSilence(100)));
  } finally {
    await Promise.all(streams.map((s) => s.close()));
    await cluster.stop();
    await redis.cleanup();
  }
});
