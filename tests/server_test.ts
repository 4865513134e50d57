import assert from "node:assert/strict";
import { startChild } from "./child.ts";
import type { Subscriber } from "../lib/core/subscriber.ts";
import { engineTest, publish, StreamClient, Streams, waitFor } from "./helpers.ts";

engineTest("publish then subscribe: a round trip with the envelope", async (t) => {
  const srv = await t.start();
  try {
    await using sub = await StreamClient.open(`${srv.url}/fruits/apples`);
    assert.equal(sub.response.headers.get("content-type"), "application/vnd.pypubsub-stream");
    assert.equal(await publish(`${srv.url}/fruits/apples/red`, { color: "red" }), 202);
    const ev = await sub.next();
    assert.equal(ev.color, "red");
    assert.deepEqual(ev.pubsub_topics, ["fruits", "apples", "red"]);
    assert.equal(ev.pubsub_path, "/fruits/apples/red");
    assert.equal(typeof ev.pubsub_timestamp, "number");
    assert.match(String(ev.pubsub_cursor), /^[0-9a-f-]{36}$/);
  } finally {
    await srv.close();
  }
});

engineTest("subscribers receive only events whose topics cover theirs", async (t) => {
  const srv = await t.start();
  try {
    await using streams = new Streams();
    const apples = await streams.open(`${srv.url}/apples`);
    const oranges = await streams.open(`${srv.url}/fruits/oranges`);
    const all = await streams.open(`${srv.url}/`);
    await publish(`${srv.url}/fruits/apples`, { n: 1 });
    await publish(`${srv.url}/fruits/oranges`, { n: 2 });
    assert.equal((await apples.next()).n, 1);
    assert.equal((await oranges.next()).n, 2);
    assert.equal((await all.next()).n, 1);
    assert.equal((await all.next()).n, 2);
    await apples.expectSilence();
  } finally {
    await srv.close();
  }
});

engineTest("comma batches: one stream, several subscriptions, each event once", async (t) => {
  const srv = await t.start();
  try {
    await using sub = await StreamClient.open(`${srv.url}/apples/red,oranges/ripe,`);
    await publish(`${srv.url}/apples/green`, { n: 0 });
    await publish(`${srv.url}/apples/red`, { n: 1 });
    await publish(`${srv.url}/ripe/oranges`, { n: 2 });
    await publish(`${srv.url}/apples/red/oranges/ripe`, { n: 3 });
    assert.deepEqual([(await sub.next()).n, (await sub.next()).n, (await sub.next()).n], [1, 2, 3]);
    await sub.expectSilence();
  } finally {
    await srv.close();
  }
});

engineTest("percent-encoded topics match their decoded form", async (t) => {
  const srv = await t.start();
  try {
    await using sub = await StreamClient.open(`${srv.url}/caf%C3%A9/a%20b`);
    await publish(`${srv.url}/a%20b/caf%c3%a9`, { n: 1 });
    const ev = await sub.next();
    assert.deepEqual(ev.pubsub_topics, ["a b", "café"]);
    assert.equal(ev.pubsub_path, "/a b/café");
  } finally {
    await srv.close();
  }
});

engineTest("the publisher's JSON reaches subscribers exactly", async (t) => {
  const srv = await t.start();
  try {
    await using sub = await StreamClient.open(`${srv.url}/exact`, { keepalives: false });
    const body = '{"big": 12345678901234567890, "z": "ünï©ødé 🍎", "a": [1.0, -0, 2e10]}';
    await publish(`${srv.url}/exact`, body);
    const text = new TextDecoder().decode(await sub.nextRaw());
    assert.ok(text.startsWith(body.slice(0, -1) + ","), text);
    assert.ok(text.endsWith("}\n"));
  } finally {
    await srv.close();
  }
});

engineTest("HEAD answers 204 with the Server and X-* headers", async (t) => {
  const srv = await t.start();
  try {
    await using _sub = await StreamClient.open(`${srv.url}/x`);
    const res = await fetch(srv.url, { method: "HEAD" });
    assert.equal(res.status, 204);
    assert.match(res.headers.get("server") ?? "", /^DenoPubSub\/\d+\.\d+\.\d+$/);
    assert.equal(res.headers.get("x-subscribers"), "1");
    assert.equal(res.headers.get("x-requests"), "2", "the subscription and this HEAD");
  } finally {
    await srv.close();
  }
});

engineTest("bad requests get a status and a one-line reason", async (t) => {
  const srv = await t.start({ server: { max_payload_size: 100 } });
  try {
    const cases: [RequestInit & { path?: string }, number, RegExp][] = [
      [{ body: "[1, 2]" }, 400, /must be a JSON object/],
      [{ body: '"text"' }, 400, /must be a JSON object/],
      [{ body: "42" }, 400, /must be a JSON object/],
      [{ body: "" }, 400, /not valid JSON/],
      [{ body: "{nope" }, 400, /not valid JSON/],
      [{ body: '{"a": NaN}' }, 400, /not valid JSON/],
      [{ body: '{"a": Infinity}' }, 400, /not valid JSON/],
      [{ body: new Uint8Array([123, 34, 0xff, 34, 58, 49, 125]) }, 400, /not valid UTF-8/],
      [{ body: JSON.stringify({ pad: "x".repeat(200) }) }, 413, /larger than the limit of 100/],
      [{ body: "{}", path: "/bad%E0%A4%A" }, 400, /not valid percent-encoding/],
      [{ method: "DELETE" }, 405, /method DELETE not allowed/],
      [{ method: "PATCH", body: "{}" }, 405, /method PATCH not allowed/],
    ];
    for (const [init, status, reason] of cases) {
      const res = await fetch(srv.url + (init.path ?? "/t"), { method: "PUT", ...init });
      const text = await res.text();
      assert.equal(res.status, status, `${init.body}: ${text}`);
      assert.match(text, reason);
      assert.equal(text.trimEnd().split("\n").length, 1);
      assert.equal(res.headers.get("content-type"), "text/plain; charset=utf-8");
      assert.ok(res.headers.get("server"));
    }
    const get = await fetch(`${srv.url}/bad%zz`);
    assert.equal(get.status, 400);
    assert.equal(get.headers.get("content-type"), "text/plain; charset=utf-8");
    assert.match(await get.text(), /^path segment "bad%zz" is not valid percent-encoding\n$/);
  } finally {
    await srv.close();
  }
});

engineTest("413 is enforced while reading a chunked body without Content-Length", async (t) => {
  const srv = await t.start({ server: { max_payload_size: 1000 } });
  try {
    await using sub = await StreamClient.open(`${srv.url}/t`);
    const chunks = 50;
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode('{"pad": "'));
        for (let i = 0; i < chunks; i++) controller.enqueue(new Uint8Array(100).fill(120));
        controller.enqueue(new TextEncoder().encode('"}'));
        controller.close();
      },
    });
    const res = await fetch(`${srv.url}/t`, { method: "POST", body });
    assert.equal(res.status, 413);
    assert.equal(res.headers.get("content-type"), "text/plain; charset=utf-8");
    await res.body?.cancel();
    await sub.expectSilence();
  } finally {
    await srv.close();
  }
});

engineTest("a small chunked body without Content-Length is accepted", async (t) => {
  const srv = await t.start();
  try {
    await using sub = await StreamClient.open(`${srv.url}/t`);
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode('{"a"'));
        controller.enqueue(new TextEncoder().encode(":1}"));
        controller.close();
      },
    });
    const res = await fetch(`${srv.url}/t`, { method: "POST", body });
    assert.equal(res.status, 202);
    await res.body?.cancel();
    assert.equal((await sub.next()).a, 1);
  } finally {
    await srv.close();
  }
});

engineTest("publishing from an address outside clients.payloaders answers 403", async (t) => {
  const srv = await t.start({ clients: { payloaders: ["10.0.0.0/8"] } });
  try {
    const res = await fetch(`${srv.url}/t`, { method: "PUT", body: "{}" });
    assert.equal(res.status, 403);
    assert.equal(res.headers.get("content-type"), "text/plain; charset=utf-8");
    assert.match(await res.text(), /^address 127\.0\.0\.1 is not allowed to publish\n$/);
  } finally {
    await srv.close();
  }
});

/** Whether this host has IPv6 at all; without it the dual-stack test cannot run. */
function hasIpv6(): boolean {
  try {
    Deno.listen({ hostname: "::1", port: 0 }).close();
    return true;
  } catch {
    return false;
  }
}

// The test suite may listen on loopback only, so main.ts runs in a child process that may
// listen on "::"; the test still sends only to 127.0.0.1 and ::1.
engineTest("an IPv4 peer on a dual-stack listener matches IPv4 allow-lists", async (t) => {
  const permissions = ["--allow-net=[::],127.0.0.1,[::1]", "--allow-read", "--allow-env"];
  await using server = await startChild(
    t.engine,
    {
      server: { bind: "::" },
      clients: { payloaders: ["127.0.0.1/32"] },
    },
    null,
    { permissions },
  );
  assert.match(await server.child.waitLine(/listening for HTTP/), /address="::"/);
  assert.equal(await publish(`http://127.0.0.1:${server.port}/t`, {}), 202);
  assert.equal(await publish(`http://[::1]:${server.port}/t`, {}), 403);
}, { ignore: !hasIpv6() });

/** Reads from a raw connection until `done` holds for the text so far, or the peer closes. */
async function readText(conn: Deno.Conn, done: (text: string) => boolean): Promise<string> {
  const buf = new Uint8Array(4096);
  let text = "";
  while (!done(text)) {
    const n = await conn.read(buf);
    if (n === null) break;
    text += new TextDecoder().decode(buf.subarray(0, n));
  }
  return text;
}

engineTest("an HTTP/1.1 request without a Host header is served", async (t) => {
  await using srv = await t.start();
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: srv.app.server.port });
  try {
    await conn.write(new TextEncoder().encode("HEAD / HTTP/1.1\r\nConnection: close\r\n\r\n"));
    const text = await readText(conn, (text) => text.includes("\r\n\r\n"));
    assert.match(text, /^HTTP\/1\.1 204 /);
  } finally {
    conn.close();
  }
});

engineTest("an HTTP/1.0 subscriber: PyPubSub's empty 200 on node, a stream on deno", async (t) => {
  const srv = await t.start();
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: srv.app.server.port });
  try {
    await conn.write(new TextEncoder().encode("GET /t HTTP/1.0\r\n\r\n"));
    const text = await readText(conn, (text) => text.includes("stillalive"));
    assert.match(text, /^HTTP\/1\.[01] 200 /);
    assert.match(text, /^server: DenoPubSub\//im);
    assert.doesNotMatch(text, /transfer-encoding: chunked/i);
    if (t.engine === "node") {
      assert.match(text, /^content-length: 0\r$/im);
      assert.ok(text.endsWith("\r\n\r\n"), "no body, and the connection closed");
      assert.equal(srv.app.server.hub.size, 0);
    } else {
      assert.match(text, /\r\n\r\n\{"stillalive": [\d.]+\}\n$/);
      assert.equal(srv.app.server.hub.size, 1);
    }
  } finally {
    conn.close();
    await srv.close();
  }
});

engineTest("keepalive lines arrive at the configured interval", async (t) => {
  const srv = await t.start({ server: { keepalive: 0.2 } });
  try {
    await using sub = await StreamClient.open(`${srv.url}/t`, { keepalives: true });
    const first = await sub.next();
    const second = await sub.next(2000);
    const third = await sub.next(2000);
    assert.equal(typeof first.stillalive, "number");
    assert.ok((third.stillalive as number) - (second.stillalive as number) >= 0.15);
  } finally {
    await srv.close();
  }
});

engineTest("oldschool clients get a NUL after every line", async (t) => {
  const srv = await t.start();
  try {
    await using sub = await StreamClient.open(`${srv.url}/t`, {
      headers: { "User-Agent": "svnwcsub/1.0" },
      keepalives: true,
      oldschool: true,
    });
    const ping = await sub.nextRaw();
    assert.deepEqual([ping.at(-2), ping.at(-1)], [10, 0]);
    await publish(`${srv.url}/t`, { n: 1 });
    const frame = await sub.nextRaw();
    assert.deepEqual([frame.at(-2), frame.at(-1)], [10, 0]);
    assert.equal(frame.indexOf(0), frame.length - 1, "one NUL, at the end");
  } finally {
    await srv.close();
  }
});

engineTest("500 concurrent subscribers each receive an event", async (t) => {
  const srv = await t.start();
  try {
    const streams = new Streams();
    try {
      const subs = await Promise.all(
        Array.from({ length: 500 }, () => streams.open(`${srv.url}/many`)),
      );
      assert.equal(srv.app.server.hub.size, 500);
      await publish(`${srv.url}/many/more`, { n: 7 });
      const got = await Promise.all(subs.map((s) => s.next()));
      assert.ok(got.every((ev) => ev.n === 7));
    } finally {
      await streams[Symbol.asyncDispose]();
    }
    await waitFor(() => srv.app.server.hub.size === 0, 3000, "subscribers to leave");
  } finally {
    await srv.close();
  }
});

engineTest("20 publishers × 50 events: none lost, each publisher's order kept", async (t) => {
  const srv = await t.start();
  try {
    await using sub = await StreamClient.open(`${srv.url}/load`);
    await Promise.all(Array.from({ length: 20 }, async (_, p) => {
      for (let i = 0; i < 50; i++) {
        assert.equal(await publish(`${srv.url}/load/p${p}`, { p, i }), 202);
      }
    }));
    const next = new Array(20).fill(0);
    for (let n = 0; n < 1000; n++) {
      const ev = await sub.next();
      const p = ev.p as number;
      assert.equal(ev.i, next[p], `publisher ${p} out of order`);
      next[p]++;
    }
    assert.ok(next.every((n) => n === 50));
  } finally {
    await srv.close();
  }
});

engineTest("a client that leaves is removed at once, before any write could show it", async (t) => {
  // No keepalive line for an hour: only the client's leaving itself can remove it.
  const srv = await t.start({ server: { keepalive: "1h" } });
  try {
    await using sub = await StreamClient.open(`${srv.url}/a/b`);
    assert.equal(srv.app.server.hub.size, 1);
    const written = srv.app.server.metrics.bytesSent.value;
    await sub.close();
    await waitFor(() => srv.app.server.hub.size === 0, 2000, "the subscriber to be removed");
    assert.equal(srv.app.server.metrics.bytesSent.value, written, "nothing written since");
    assert.equal(await publish(`${srv.url}/a/b`, {}), 202);
  } finally {
    await srv.close();
  }
});

engineTest(
  "a stalled subscriber is disconnected, and until then a reading one gets each event before the next is published",
  async (t) => {
    const srv = await t.start({
      server: { max_queued_bytes: 262144, max_payload_size: 10000, keepalive: "1h" },
    });
    const { hub, metrics } = srv.app.server;
    const stalled = await Deno.connect({ hostname: "127.0.0.1", port: srv.app.server.port });
    try {
      await stalled.write(new TextEncoder().encode("GET /t HTTP/1.1\r\nHost: x\r\n\r\n"));
      await waitFor(() => hub.size === 1, 2000, "the stalled subscriber");
      let stalledSub: Subscriber | undefined;
      hub.forEach((sub) => stalledSub = sub);
      await using reader = await StreamClient.open(`${srv.url}/t`);
      const pad = "x".repeat(8000);
      let sent = 0;
      let received = 0;
      const publishOne = async () => {
        assert.equal(await publish(`${srv.url}/t`, { i: sent++, pad }), 202);
      };
      const readAll = async () => {
        for (; received < sent; received++) assert.equal((await reader.next(3000)).i, received);
      };
      // Loopback socket buffers take several MiB before the server queues anything for the
      // stalled subscriber: fill them, the reader catching up every 100 events.
      while (stalledSub!.queuedBytes === 0 && !stalledSub!.closed && sent < 10_000) {
        await publishOne();
        if (sent % 100 === 0) await readAll();
      }
      await readAll();
      assert.ok(stalledSub!.queuedBytes > 0, "the stalled subscriber has bytes queued");
      // Now one event at a time: each must reach the reader while the stalled one is
      // still connected with its queue backed up, until it is disconnected.
      let whileStalled = 0;
      while (!stalledSub!.closed && sent < 10_000) {
        const queued = stalledSub!.queuedBytes > 0;
        await publishOne();
        await readAll();
        if (queued && !stalledSub!.closed) whileStalled++;
      }
      assert.equal(metrics.evictedSlow.value, 1);
      assert.ok(whileStalled >= 10, `only ${whileStalled} events while the other was stalled`);
      assert.equal(hub.size, 1);
      await publishOne();
      await readAll();
    } finally {
      stalled.close();
      await srv.close();
    }
  },
);

engineTest(
  "subscribers joining and leaving during delivery make no one miss an event",
  async (t) => {
    const srv = await t.start();
    let churning = true;
    let churn: Promise<void> = Promise.resolve();
    try {
      await using streams = new Streams();
      const steady = await Promise.all(
        Array.from({ length: 20 }, () => streams.open(`${srv.url}/churn`)),
      );
      churn = (async () => {
        for (let round = 0; churning && round < 10_000; round++) {
          await using batch = new Streams();
          await Promise.all(Array.from({ length: 10 }, () => batch.open(`${srv.url}/churn`)));
        }
      })();
      for (let i = 0; i < 200; i++) await publish(`${srv.url}/churn`, { i });
      churning = false;
      await churn;
      for (const sub of steady) {
        for (let i = 0; i < 200; i++) assert.equal((await sub.next()).i, i);
      }
    } finally {
      churning = false;
      await churn.catch(() => {});
      await srv.close();
    }
  },
);

engineTest("server shutdown cuts every open stream", async (t) => {
  const srv = await t.start();
  const sub = await StreamClient.open(`${srv.url}/t`);
  await srv.close();
  assert.ok(await sub.cut(), "the stream should be cut when the server stops");
  await sub.close();
});
