/**
 * What one request or client may hold (`server.max_*`), over both engines: each limit
 * answers its 4xx (or 503) with the key to raise, counts the refusal, and the defaults let
 * every ordinary request through.
 */

import assert from "node:assert/strict";
import { stringify } from "yaml";
import { parseConfig } from "../lib/config.ts";
import { LIMIT_DEFAULTS, StreamCounts } from "../lib/http/limits.ts";
import {
  engineTest,
  publish,
  StreamClient,
  testConfig,
  type TestServer,
  waitFor,
} from "./helpers.ts";

/** The value of `denopubsub_limits_refused_total{limit}`. */
function refused(srv: TestServer, limit: string): number {
  const text = srv.app.server.metrics.registry.render();
  const m = new RegExp(`^denopubsub_limits_refused_total\\{limit="${limit}"\\} (\\d+)$`, "m")
    .exec(text);
  return m ? Number(m[1]) : 0;
}

/** GETs `url`, returning the status, the reason and the Retry-After header. */
async function get(url: string) {
  const res = await fetch(url);
  return { status: res.status, text: await res.text(), retry: res.headers.get("retry-after") };
}

const topics = (n: number, prefix = "t") => Array.from({ length: n }, (_, i) => `${prefix}${i}`);

Deno.test("parseConfig() reads the limits, with defaults every PyPubSub client stays within", () => {
  const config = parseConfig({ server: {} }, "f.yaml");
  assert.deepEqual(config.server.limits, LIMIT_DEFAULTS);
  const set = parseConfig({
    server: {
      max_topic_sets: 8,
      max_topics: 4,
      max_target_bytes: 1024,
      max_streams_per_client: 3,
      max_streams: 0,
    },
  }, "f.yaml").server.limits;
  assert.deepEqual(set, {
    maxTopicSets: 8,
    maxTopics: 4,
    maxTargetBytes: 1024,
    maxStreamsPerClient: 3,
    maxStreams: 0,
  });
  assert.throws(
    () => parseConfig({ server: { max_topic_sets: 0 } }, "f.yaml"),
    /^ConfigError: f\.yaml: server\.max_topic_sets: must be between 1 and 100000, got 0/,
  );
  assert.throws(
    () => parseConfig({ server: { max_streams: "many" } }, "f.yaml"),
    /f\.yaml: server\.max_streams: must be a whole number/,
  );
});

Deno.test("StreamCounts counts streams per client and uncounts each once", () => {
  const counts = new StreamCounts();
  const limits = { ...LIMIT_DEFAULTS, maxStreamsPerClient: 2 };
  const [a, b, c] = [{}, {}, {}];
  counts.opened(a, "192.0.2.1");
  counts.opened(b, "192.0.2.1");
  counts.opened(c, "192.0.2.2");
  assert.throws(() => counts.admit("192.0.2.1", 3, limits, 0), { status: 429 });
  counts.admit("192.0.2.2", 3, limits, 0);
  assert.throws(() => counts.admit("192.0.2.2", 3, limits, 3), { status: 503 });
  counts.closed(a);
  counts.closed(a);
  counts.closed({});
  assert.equal(counts.of("192.0.2.1"), 1);
  counts.admit("192.0.2.1", 2, limits, 0);
});

engineTest(
  "server.max_topic_sets: a stream of that many sets is served, one more gets 400",
  async (t) => {
    const srv = await t.start();
    try {
      const sub = await StreamClient.open(`${srv.url}/${topics(64).join(",")}`);
      await sub.close();
      const over = await get(`${srv.url}/${topics(65).join(",")}`);
      assert.equal(over.status, 400);
      assert.match(over.text, /65 topic sets; at most 64 \(server\.max_topic_sets\)/);
      assert.equal(refused(srv, "topic_sets"), 1);
    } finally {
      await srv.close();
    }
  },
);

engineTest("server.max_topics: a set or a publish path with more topics gets 400", async (t) => {
  const srv = await t.start();
  try {
    const over = await get(`${srv.url}/a,${topics(33).join("/")}`);
    assert.equal(over.status, 400);
    assert.match(over.text, /33 topics; at most 32 \(server\.max_topics\)/);
    assert.equal(await publish(`${srv.url}/${topics(33).join("/")}`, { n: 1 }), 400);
    assert.equal(await publish(`${srv.url}/private/${topics(32).join("/")}`, { n: 2 }), 202);
    assert.equal(refused(srv, "topics"), 2);
  } finally {
    await srv.close();
  }
});

engineTest("server.max_target_bytes: a longer request target gets 414", async (t) => {
  const srv = await t.start({ server: { max_target_bytes: 1024 } });
  try {
    const sub = await StreamClient.open(`${srv.url}/${"a".repeat(1023)}`);
    await sub.close();
    const long = `${srv.url}/${"a".repeat(1000)}?${"b".repeat(100)}`;
    const over = await get(long);
    assert.equal(over.status, 414);
    assert.match(over.text, /request target of 1102 bytes; at most 1024/);
    assert.equal(await publish(long, { n: 1 }), 414);
    assert.equal(refused(srv, "target"), 2);
  } finally {
    await srv.close();
  }
});

engineTest(
  "server.max_streams_per_client: one stream more gets 429, a closed one frees its place",
  async (t) => {
    const srv = await t.start({ server: { max_streams_per_client: 2 } });
    const streams: StreamClient[] = [];
    try {
      for (const topic of ["a", "b"]) streams.push(await StreamClient.open(`${srv.url}/${topic}`));
      const over = await get(`${srv.url}/c`);
      assert.equal(over.status, 429);
      assert.equal(over.retry, "10");
      assert.match(over.text, /127\.0\.0\.1 holds 2 streams already/);
      await streams.shift()!.close();
      await waitFor(() => srv.app.server.hub.size === 1, 3000, "the closed stream to be gone");
      streams.push(await StreamClient.open(`${srv.url}/c`));
      assert.equal(refused(srv, "client_streams"), 1);
    } finally {
      await Promise.all(streams.map((s) => s.close()));
      await srv.close();
    }
  },
);

engineTest("server.max_streams: past it a stream gets 503, and publishing goes on", async (t) => {
  const srv = await t.start({ server: { max_streams: 2 } });
  const streams: StreamClient[] = [];
  try {
    for (const topic of ["a", "b"]) streams.push(await StreamClient.open(`${srv.url}/${topic}`));
    const over = await get(`${srv.url}/a`);
    assert.equal(over.status, 503);
    assert.equal(over.retry, "30");
    assert.match(over.text, /holds 2 streams already \(server\.max_streams\)/);
    assert.equal(await publish(`${srv.url}/a`, { n: 1 }), 202);
    assert.equal((await streams[0]!.next()).n, 1);
    assert.equal(refused(srv, "streams"), 1);
  } finally {
    await Promise.all(streams.map((s) => s.close()));
    await srv.close();
  }
});

engineTest("a reload applies new limits to the next requests", async (t) => {
  const srv = await t.start({ server: { max_topic_sets: 2 } });
  try {
    assert.equal((await get(`${srv.url}/a,b,c`)).status, 400);
    const raised = testConfig({ server: { engine: t.engine, max_topic_sets: 3 } });
    await Deno.writeTextFile(srv.files.config, stringify(raised));
    assert.ok(await srv.app.reload());
    const sub = await StreamClient.open(`${srv.url}/a,b,c`);
    await sub.close();
  } finally {
    await srv.close();
  }
});
