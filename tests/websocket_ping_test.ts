import assert from "node:assert/strict";
import { engineTest, waitFor } from "./helpers.ts";
import { SocketClient } from "./sse_helpers.ts";

/** One second instead of the default 30, so a dead peer is found within a few seconds. */
const FAST_PING = { server: { websocket: { ping: 1 }, keepalive: 60 } };

/** A raw TCP client that completes the WebSocket handshake and then never answers a ping. */
async function deadPeer(port: number, path: string): Promise<Deno.TcpConn> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const request = `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n` +
    "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
    "Sec-WebSocket-Version: 13\r\n\r\n";
  await conn.write(new TextEncoder().encode(request));
  const buf = new Uint8Array(4096);
  const n = await conn.read(buf);
  const head = new TextDecoder().decode(buf.subarray(0, n ?? 0));
  assert.match(head, /^HTTP\/1\.1 101 /, "the handshake completes");
  return conn;
}

/** Reads and drops what the server sends (pings included, never answered) until it cuts. */
async function readUntilCut(conn: Deno.TcpConn): Promise<void> {
  const buf = new Uint8Array(4096);
  try {
    while (await conn.read(buf) !== null);
  } catch {
    // A reset ends the connection as surely as a close.
  }
}

engineTest(
  "WebSocket: a peer that never answers pings is cut after server.websocket.ping",
  async (t) => {
    const srv = await t.start(FAST_PING);
    const port = Number(new URL(srv.url).port);
    const live = await SocketClient.open(`${srv.url.replace("http", "ws")}/fruits`);
    let dead: Deno.TcpConn | null = null;
    let reading: Promise<void> = Promise.resolve();
    try {
      dead = await deadPeer(port, "/fruits");
      await waitFor(() => srv.app.server.hub.size === 2, 3000, "both subscribers to register");
      let cut = false;
      reading = readUntilCut(dead).then(() => {
        cut = true;
      });
      // Generous against a 1 s ping on a busy machine; the 30 s default would not make it.
      await waitFor(() => cut, 15_000, "the server to cut the dead peer");
      await waitFor(
        () => srv.app.server.hub.size === 1,
        3000,
        "the dead peer's subscriber to leave",
      );
      assert.equal(live.socket.readyState, WebSocket.OPEN, "a client that answers pings stays");
    } finally {
      dead?.close();
      await reading;
      await live.close();
      await srv.close();
    }
  },
);
