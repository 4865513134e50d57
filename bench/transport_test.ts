import { equal, ok } from "node:assert/strict";
import { runLoad } from "./load.ts";
import type { LoadSpec } from "./load_spec.ts";
import { oursTarget } from "./targets.ts";
import { type Transport, transportHeaders } from "./transport.ts";
import { textTimestamp } from "./ws_subscribers.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;

function spec(port: number, pid: number, transport: Transport): LoadSpec {
  return {
    port,
    transport,
    serverPid: pid,
    helperPids: [],
    subscribers: 10,
    topics: 1,
    topicPrefix: `${transport}t`,
    subscribePath: "/{topic}",
    publishPath: "/{topic}",
    subscribeHeaders: transportHeaders(transport),
    bodySuffix: "",
    bodyBytes: 1024,
    publishers: 2,
    slowSubscribers: 1,
    rate: 50,
    durationMs: 300,
    maxEvents: 1000,
    windowEvents: 16,
    settleMs: 50,
    drainMs: 3000,
    openTimeoutMs: 5000,
  };
}

Deno.test("textTimestamp reads the send time near the start of a message", () => {
  equal(textTimestamp('{"t":1733000000000.25,"seq":3,"pad":"xx"}'), 1733000000000.25);
  equal(textTimestamp('{"t": 42}'), 42);
  ok(Number.isNaN(textTimestamp('{"stillalive":1733000000.5}')));
  ok(Number.isNaN(textTimestamp('{"t":"soon"}')));
  ok(Number.isNaN(textTimestamp(`{"pad":"${"x".repeat(400)}","t":1}`)));
});

for (const engine of ["deno", "node"]) {
  Deno.test(`runLoad counts SSE and WebSocket deliveries from DenoPubSub (${engine} engine)`, async () => {
    const server = await oursTarget(MAIN, engine, { server: { engine } }).start(null);
    try {
      for (const transport of ["sse", "ws"] as const) {
        const result = await runLoad(spec(server.port, server.pid, transport));
        equal(result.subscribers.opened, 10, `${transport}: ${result.subscribers.firstError}`);
        equal(result.subscribers.slow, 1, transport);
        ok(result.publish.accepted >= 10, `${transport}: accepted ${result.publish.accepted}`);
        equal(result.deliveries.expected, result.publish.accepted * 10, transport);
        equal(result.deliveries.received, result.deliveries.expected, transport);
        equal(result.latency.count, result.deliveries.received, transport);
        ok(result.memory !== null && result.memory.afterKB > 0, transport);
      }
    } finally {
      await server.stop();
    }
  });
}
