/**
 * `server.timeouts` over both engines, with raw sockets that send half a request: a head
 * or a body that does not arrive in time, and a kept-alive connection left idle, are
 * closed; streams are not.
 */

import assert from "node:assert/strict";
import {
  type EngineContext,
  engineTest,
  publish,
  StreamClient,
  type TestServer,
} from "./helpers.ts";
import { RawClient } from "./raw_client.ts";

const TIMEOUTS = { head: 0.5, body: 0.5, idle: 0.5 };

function start(t: EngineContext, timeouts: Record<string, number> = TIMEOUTS) {
  return t.start({ server: { timeouts } });
}

/** The value of `denopubsub_timeouts_total{phase}`. */
function timedOut(srv: TestServer, phase: string): number {
  const text = srv.app.server.metrics.registry.render();
  const m = new RegExp(`^denopubsub_timeouts_total\\{phase="${phase}"\\} (\\d+)$`, "m").exec(text);
  return m ? Number(m[1]) : 0;
}

/** Opens a raw connection, runs `fn`, and closes both. */
async function withRaw(srv: TestServer, fn: (raw: RawClient) => Promise<void>): Promise<void> {
  const raw = await RawClient.connect(srv.app.server.port);
  try {
    await fn(raw);
  } finally {
    await raw.close();
    await srv.close();
  }
}

engineTest("a request head not complete within server.timeouts.head is cut", async (t) => {
  const srv = await start(t);
  await withRaw(srv, async (raw) => {
    await raw.send("GET /fruits HTTP/1.1\r\nHost: x\r\n");
    await raw.closedByServer();
    assert.ok(raw.closedAfterMs! >= 450, `closed after ${raw.closedAfterMs} ms`);
    // Node answers what it parsed itself; on Deno.serve the head is Deno's to answer.
    if (t.engine === "node") assert.match(raw.text, /^HTTP\/1\.1 408 /);
    else assert.equal(raw.text, "");
    assert.equal(timedOut(srv, "head"), 1);
  });
});

engineTest("a connection that sends nothing is cut after server.timeouts.head", async (t) => {
  const srv = await start(t);
  await withRaw(srv, async (raw) => {
    await raw.closedByServer();
    assert.ok(raw.closedAfterMs! >= 450, `closed after ${raw.closedAfterMs} ms`);
    assert.equal(timedOut(srv, "head"), 1);
  });
});

engineTest("a publish body not complete within server.timeouts.body gets 408", async (t) => {
  const srv = await start(t, { head: 5, body: 0.5, idle: 5 });
  const sub = await StreamClient.open(`${srv.url}/slow`);
  try {
    await withRaw(srv, async (raw) => {
      await raw.send('PUT /slow HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n{"a":');
      await raw.closedByServer();
      assert.match(raw.text, /^HTTP\/1\.1 408 /);
      assert.match(raw.text, /server\.timeouts\.body/);
      assert.equal(timedOut(srv, "body"), 1);
      await sub.expectSilence();
    });
  } finally {
    await sub.close();
  }
});

engineTest("a chunked publish body that stops gets 408", async (t) => {
  const srv = await start(t, { head: 5, body: 0.5, idle: 5 });
  await withRaw(srv, async (raw) => {
    await raw.send(
      'PUT /slow HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{"a":\r\n',
    );
    await raw.closedByServer();
    assert.match(raw.text, /^HTTP\/1\.1 408 /);
    assert.equal(timedOut(srv, "body"), 1);
  });
});

engineTest("a kept-alive connection idle for server.timeouts.idle is closed", async (t) => {
  const srv = await start(t, { head: 5, body: 5, idle: 0.5 });
  await withRaw(srv, async (raw) => {
    await raw.send("HEAD / HTTP/1.1\r\nHost: x\r\n\r\n");
    await raw.received("\r\n\r\n");
    assert.match(raw.text, /^HTTP\/1\.1 204 /);
    await raw.send("HEAD / HTTP/1.1\r\nHost: x\r\n\r\n");
    await raw.received("HTTP/1.1 204 ", 3000, 2);
    await raw.closedByServer();
    assert.ok(raw.closedAfterMs! >= 450, `closed after ${raw.closedAfterMs} ms`);
    assert.equal(timedOut(srv, "idle"), 1);
    assert.equal(timedOut(srv, "head"), 0);
  });
});

engineTest("streams outlive every timeout", async (t) => {
  const srv = await t.start({ server: { timeouts: { head: 0.2, body: 0.2, idle: 0.2 } } });
  try {
    const sub = await StreamClient.open(`${srv.url}/long`);
    try {
      await new Promise((resolve) => setTimeout(resolve, 1200));
      assert.equal(await publish(`${srv.url}/long`, { n: 1 }), 202);
      assert.equal((await sub.next()).n, 1);
      assert.equal(srv.app.server.hub.size, 1);
    } finally {
      await sub.close();
    }
  } finally {
    await srv.close();
  }
});

engineTest("timeouts of 0 are off: a half-sent head is held", async (t) => {
  const srv = await start(t, { head: 0, body: 0, idle: 0 });
  await withRaw(srv, async (raw) => {
    await raw.send("GET /fruits HTTP/1.1\r\nHost: x\r\n");
    await new Promise((resolve) => setTimeout(resolve, 1000));
    assert.equal(raw.closedAfterMs, null);
    assert.equal(await publish(`${srv.url}/fruits`, { n: 1 }), 202);
  });
});
