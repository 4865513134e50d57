import { deepEqual, equal } from "node:assert/strict";
import { PublisherConn } from "./publisher_conn.ts";

const encoder = new TextEncoder();
const REQUEST = encoder.encode("POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}");

/** A server answering each request on one connection with the next canned response. */
async function withServer(responses: string[], fn: (port: number) => Promise<void>) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const serving = (async () => {
    const conn = await listener.accept();
    const buf = new Uint8Array(4096);
    for (const response of responses) {
      if ((await conn.read(buf)) === null) break;
      await conn.write(encoder.encode(response));
    }
    conn.close();
  })();
  try {
    await fn((listener.addr as Deno.NetAddr).port);
  } finally {
    listener.close();
    await serving;
  }
}

Deno.test("PublisherConn.send() reads bodies by length and by chunks on one connection", async () => {
  const responses = [
    "HTTP/1.1 202 Accepted\r\nCONTENT-LENGTH: 5\r\n\r\nqueue",
    "HTTP/1.1 400 Bad Request\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nbad\r\n0\r\n\r\n",
    "HTTP/1.1 201 Created\r\ncontent-length: 0\r\n\r\n",
  ];
  await withServer(responses, async (port) => {
    const conn = await PublisherConn.open(port);
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push(await conn.send(REQUEST));
    deepEqual(statuses, [202, 400, 201]);
    equal(conn.usable, true);
    conn.close();
  });
});

Deno.test("PublisherConn.send() stops using a connection the server closes", async () => {
  const responses = ["HTTP/1.1 202 Accepted\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"];
  await withServer(responses, async (port) => {
    const conn = await PublisherConn.open(port);
    equal(await conn.send(REQUEST), 202);
    equal(conn.usable, false);
  });
});
