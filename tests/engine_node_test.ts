/**
 * The `node` engine on the wire: once a stream's head is out, the engine writes the
 * chunked body to the socket itself, so these tests read raw bytes, not `fetch`.
 */

import * as assert from "node:assert/strict";
import { basic, publish, startServer, waitFor } from "./helpers.ts";
import { RawClient } from "./raw_client.ts";
import { holdChecks } from "./password_checks.ts";

const encoder = new TextEncoder();

/** The chunk Node's `write()` makes of `line`: its size in hex, the line, CRLF. */
function chunk(line: string): string {
  return `${encoder.encode(line).byteLength.toString(16)}\r\n${line}\r\n`;
}

const SUBSCRIBE = "GET /t HTTP/1.1\r\nHost: x\r\n\r\n";

Deno.test("node engine: a stream is chunked on the wire as Node frames it, and shutdown closes it without the last chunk", async () => {
  const srv = await startServer({ server: { engine: "node" } });
  let stopped = false;
  const client = await RawClient.connect(srv.app.server.port);
  try {
    await client.send(SUBSCRIBE);
    await client.received("\r\n\r\n");
    const head = client.text.slice(0, client.text.indexOf("\r\n\r\n"));
    assert.match(head, /^HTTP\/1\.1 200 OK\r\n/);
    assert.match(head, /\r\nTransfer-Encoding: chunked(\r\n|$)/i);
    await client.received("stillalive");
    assert.equal(await publish(`${srv.url}/t`, { n: 1 }), 202);
    await client.received('"n":1');
    const body = client.text.slice(head.length + 4);
    const lines = body.split("\r\n").filter((_, i) => i % 2 === 1);
    assert.equal(body, lines.map(chunk).join(""));
    assert.ok(lines.every((line) => line.endsWith("\n")));
    await srv.close();
    stopped = true;
    await client.closedByServer();
    assert.ok(client.text.endsWith("}\n\r\n"), "the body is cut after a whole line");
    assert.ok(!client.text.endsWith("0\r\n\r\n"), "no last chunk");
  } finally {
    await client.close();
    if (!stopped) await srv.close();
  }
});

Deno.test("node engine: a client that ends its side ends its stream at once", async () => {
  // No keepalive line for an hour: only the client's end of the connection can end it.
  const srv = await startServer({ server: { engine: "node", keepalive: "1h" } });
  const client = await RawClient.connect(srv.app.server.port);
  try {
    await client.send(SUBSCRIBE);
    await client.received("stillalive");
    assert.equal(srv.app.server.hub.size, 1);
    await client.closeWrite();
    await client.closedByServer();
    await waitFor(() => srv.app.server.hub.size === 0, 2000, "the subscriber to be removed");
  } finally {
    await client.close();
    await srv.close();
  }
});

Deno.test("node engine: bytes a subscriber sends after its request are ignored and its stream goes on", async () => {
  const srv = await startServer({ server: { engine: "node" } });
  const client = await RawClient.connect(srv.app.server.port);
  try {
    await client.send(SUBSCRIBE);
    await client.received("stillalive");
    const body = '{"pipelined":true}';
    await client.send(
      `PUT /t HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n${body}not http\r\n\r\n`,
    );
    assert.equal(await publish(`${srv.url}/t`, { n: 2 }), 202);
    await client.received('"n":2');
    assert.ok(!client.text.includes("pipelined"), "the pipelined PUT was not served");
    assert.ok(!client.text.includes("HTTP/1.1 400"), "no answer to the junk");
    assert.equal(srv.app.server.hub.size, 1);
  } finally {
    await client.close();
    await srv.close();
  }
});

Deno.test("node engine: a stream whose connection cannot be taken over stays with Node's response and still works", async () => {
  const srv = await startServer({ server: { engine: "node", keepalive: "1h" } }, {
    alice: { password: "pw" },
  });
  const client = await RawClient.connect(srv.app.server.port);
  try {
    const body = '{"pipelined":1}';
    const put = `PUT /t HTTP/1.1\r\nHost: x\r\nAuthorization: ${basic("alice", "pw")}\r\n` +
      `Content-Length: ${body.length}\r\n\r\n${body}`;
    {
      // The PUT's login waits for a password check, so its answer is still ahead of the
      // subscription's on the connection when the stream starts: no takeover is possible.
      await using held = await holdChecks(0);
      await client.send(put + SUBSCRIBE);
      await waitFor(() => srv.app.server.hub.size === 1, 2000, "the subscription to start");
      assert.ok(!held.done(), "the stream started while the PUT was still waiting");
    }
    await client.received('"pipelined":1', 5000);
    const answers = client.text.split(/(?=HTTP\/1\.1 )/);
    assert.match(answers[0]!, /^HTTP\/1\.1 202 /, "the PUT is answered first");
    assert.match(answers[1]!, /^HTTP\/1\.1 200 OK\r\n/);
    assert.match(answers[1]!, /\r\nTransfer-Encoding: chunked\r\n/i);
    assert.equal(await publish(`${srv.url}/t`, { n: 2 }), 202);
    await client.received('"n":2');
    const stream = client.text.slice(client.text.indexOf("\r\n\r\n", answers[0]!.length) + 4);
    const lines = stream.split("\r\n").filter((_, i) => i % 2 === 1);
    assert.equal(stream, lines.map(chunk).join(""), "one chunk per line, as Node frames them");
    assert.equal(lines.length, 3, "the first keepalive and both events");
    await client.close();
    await waitFor(() => srv.app.server.hub.size === 0, 2000, "the subscriber to be removed");
  } finally {
    await client.close();
    await srv.close();
  }
});
