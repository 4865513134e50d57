import assert from "node:assert/strict";
// @ts-types="../lib/http/ws_types.d.ts"
import { WebSocket as NodeWebSocket } from "ws";
import { basic, engineTest, publish, StreamClient, waitFor } from "./helpers.ts";
import { SocketClient } from "./sse_helpers.ts";

const BACKLOG = { server: { backlog: { size: 100, max_age: "1h" } } };

engineTest("WebSocket: one text message per event, the same JSON as the NDJSON line", async (t) => {
  const srv = await t.start(BACKLOG);
  const ws = await SocketClient.open(`${srv.url.replace("http", "ws")}/fruits`);
  const ndjson = await StreamClient.open(`${srv.url}/fruits`);
  try {
    assert.deepEqual(await ws.next(), {
      stream: { newest_cursor: null, cursor_unknown: false, backlog_truncated: false },
    });
    assert.ok("stillalive" in await ws.next(), "keepalives are messages too");
    await publish(`${srv.url}/fruits/apples`, { kind: "apple" });
    assert.deepEqual(await ws.next(), await ndjson.next());
    assert.equal(srv.app.server.hub.size, 2);
    await ws.close();
    await waitFor(() => srv.app.server.hub.size === 1, 3000, "the socket's subscriber to leave");
  } finally {
    await ws.close();
    await ndjson.close();
    await srv.close();
  }
});

engineTest(
  "WebSocket: ?cursor= replays, and Basic auth on the upgrade grants private events",
  async (t) => {
    const acl = { alice: { password: "pw", acl: { repo: ["git"] } } };
    const srv = await t.start(BACKLOG, acl);
    const base = srv.url.replace("http", "ws");
    const sockets: SocketClient[] = [];
    try {
      await publish(`${srv.url}/git/a`, { n: 1 });
      await publish(`${srv.url}/private/git/b`, { n: 2 });
      const anon = await SocketClient.open(`${base}/git?since=0`);
      sockets.push(anon);
      const one = await anon.next({ events: true });
      assert.equal(one.n, 1);
      const alice = await SocketClient.open(`${base}/git?cursor=${one.pubsub_cursor}`, {
        Authorization: basic("alice", "pw"),
      });
      sockets.push(alice);
      const status = await alice.next();
      assert.equal((status.stream as Record<string, unknown>).cursor_unknown, false);
      assert.equal((await alice.next({ events: true })).n, 2, "the private event is replayed");
      await publish(`${srv.url}/private/git/c`, { n: 3 });
      await publish(`${srv.url}/git/d`, { n: 4 });
      assert.equal((await alice.next({ events: true })).n, 3);
      assert.equal((await anon.next({ events: true })).n, 4, "anonymous sockets skip it");
      await assert.rejects(
        SocketClient.open(`${base}/git`, { Authorization: basic("alice", "wrong") }),
        "wrong credentials refuse the upgrade",
      );
    } finally {
      for (const s of sockets) await s.close();
      await srv.close();
    }
  },
);

engineTest(
  "WebSocket: a client that stops reading is closed with 1008 past the byte budget",
  async (t) => {
    const srv = await t.start({ server: { max_queued_bytes: 65536, max_payload_size: 100_000 } });
    const client = new NodeWebSocket(`${srv.url.replace("http", "ws")}/t`);
    const closed = new Promise<{ code: number; reason: string }>((resolve) => {
      client.on(
        "close",
        (code, reason) => resolve({ code, reason: new TextDecoder().decode(reason) }),
      );
    });
    client.on("error", () => {});
    try {
      await new Promise<void>((resolve) => client.on("open", () => resolve()));
      client.pause();
      const evicted = srv.app.server.metrics.evictedSlow;
      const big = { pad: "x".repeat(60_000) };
      // The kernel's socket buffers take some megabytes before the server's queue grows.
      for (let i = 0; i < 2000 && evicted.value === 0; i++) {
        assert.equal(await publish(`${srv.url}/t`, big), 202);
      }
      assert.equal(evicted.value, 1, "evicted under server.max_queued_bytes");
      assert.equal(srv.app.server.hub.size, 0);
      client.resume();
      const { code, reason } = await closed;
      assert.equal(code, 1008, "the close frame follows what was queued");
      assert.match(reason, /too slow/);
    } finally {
      client.terminate();
      await srv.close();
    }
  },
);
