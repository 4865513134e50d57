import { equal, ok } from "node:assert/strict";
import { runLoad } from "./load.ts";
import type { LoadSpec } from "./load_spec.ts";
import { freePort, spawnPinned, waitForPort } from "./proc.ts";

const SERVER = new URL("./trivial_server.ts", import.meta.url).pathname;

async function withTrivialServer(fn: (port: number, pid: number) => Promise<void>) {
  const port = freePort();
  const dir = await Deno.makeTempDir({ prefix: "bench-test-" });
  const cmd = [Deno.execPath(), "run", "--allow-net=127.0.0.1", SERVER, String(port)];
  const server = spawnPinned(cmd, { cpu: null, logFile: `${dir}/server.log` });
  try {
    await waitForPort(port, 10_000, server.child.status);
    await fn(port, server.pid);
  } finally {
    await server.stop();
    await Deno.remove(dir, { recursive: true });
  }
}

function spec(port: number, pid: number | null, changes: Partial<LoadSpec>): LoadSpec {
  return {
    port,
    transport: "ndjson",
    serverPid: pid,
    helperPids: [],
    subscribers: 20,
    topics: 1,
    topicPrefix: "test",
    subscribePath: "/{topic}",
    publishPath: "/{topic}",
    subscribeHeaders: "",
    bodySuffix: "",
    bodyBytes: 1024,
    publishers: 2,
    slowSubscribers: 0,
    rate: 50,
    durationMs: 300,
    maxEvents: 1000,
    windowEvents: 16,
    settleMs: 50,
    drainMs: 2000,
    openTimeoutMs: 5000,
    ...changes,
  };
}

Deno.test("runLoad at a fixed rate delivers every event to every subscriber", async () => {
  await withTrivialServer(async (port, pid) => {
    const result = await runLoad(spec(port, pid, {}));
    equal(result.subscribers.opened, 20);
    ok(result.publish.accepted >= 10, `accepted ${result.publish.accepted}`);
    equal(result.deliveries.expected, result.publish.accepted * 20);
    equal(result.deliveries.received, result.deliveries.expected);
    equal(result.deliveries.lost, 0);
    equal(result.latency.count, result.deliveries.received);
    ok(result.latency.p50 >= 0 && result.latency.p99 <= result.latency.max);
    ok(result.memory !== null && result.memory.afterKB > 0);
  });
});

Deno.test("runLoad holds a stalled subscriber apart from the counted ones", async () => {
  await withTrivialServer(async (port, pid) => {
    const result = await runLoad(spec(port, pid, { slowSubscribers: 1 }));
    equal(result.subscribers.opened, 20);
    equal(result.subscribers.slow, 1);
    equal(result.deliveries.expected, result.publish.accepted * 20);
    equal(result.deliveries.lost, 0);
  });
});

Deno.test("runLoad at the maximum rate stops at maxEvents and spreads topics round-robin", async () => {
  await withTrivialServer(async (port) => {
    const result = await runLoad(
      spec(port, null, { topics: 20, rate: null, durationMs: 5000, maxEvents: 200 }),
    );
    equal(result.publish.sent, 200);
    equal(result.deliveries.expected, 200);
    equal(result.deliveries.received, 200);
    equal(result.memory, null);
  });
});

Deno.test("runLoad counts subscriptions the server refuses as failed", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  const refuse = (async () => {
    for await (const conn of listener) {
      await conn.write(new TextEncoder().encode("HTTP/1.1 403 Forbidden\r\n\r\n"));
      conn.close();
    }
  })();
  const result = await runLoad(spec(port, null, { subscribers: 3, publishers: 0 }));
  listener.close();
  await refuse;
  equal(result.subscribers.opened, 0);
  equal(result.subscribers.failed, 3);
  equal(result.subscribers.firstError, "status 403");
  equal(result.subscribers.endedEarly, 0);
});
