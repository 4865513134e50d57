import assert from "node:assert/strict";
import { startApp } from "../lib/app.ts";
import { handleAdmin, Readiness } from "../lib/ops/admin.ts";
import {
  basic,
  type EngineContext,
  engineTest,
  publish,
  StreamClient,
  Streams,
  type TestServer,
  waitFor,
  withEngine,
  writeFiles,
} from "./helpers.ts";

/** Samples of a Prometheus text page, keyed by `name{labels}` as written. */
type Samples = Map<string, number>;

async function scrape(adminUrl: string): Promise<{ text: string; samples: Samples }> {
  const res = await fetch(`${adminUrl}/metrics`);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-type"), "text/plain; version=0.0.4; charset=utf-8");
  const text = await res.text();
  const samples: Samples = new Map();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const space = line.lastIndexOf(" ");
    samples.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return { text, samples };
}

/** How much each sample grew between two scrapes (a missing sample counts as 0). */
function delta(before: Samples, after: Samples, key: string): number {
  return (after.get(key) ?? 0) - (before.get(key) ?? 0);
}

/** The base URL of a test server's admin listener. */
function adminUrl(srv: TestServer): string {
  assert.ok(srv.app.admin, "admin listener started");
  return `http://127.0.0.1:${srv.app.admin.port}`;
}

/** A server with its admin listener on a free port. */
async function startWithAdmin(t: EngineContext, patch: Record<string, unknown> = {}) {
  const srv = await t.start({ admin: { port: 0 }, ...patch });
  return { srv, admin: adminUrl(srv) };
}

async function get(url: string, init: RequestInit = {}): Promise<[number, string]> {
  const res = await fetch(url, init);
  return [res.status, await res.text()];
}

engineTest("the admin listener is off unless admin.port is set", async (t) => {
  await using srv = await t.start();
  assert.equal(srv.app.admin, null);
  assert.equal(srv.app.server.settings.config.admin.port, null);
});

engineTest("GET /metrics shows the counters moving while events are published", async (t) => {
  const { srv, admin } = await startWithAdmin(t, { server: { keepalive: "1h" } });
  try {
    const before = await scrape(admin);
    assert.equal(before.samples.get("denopubsub_subscribers"), 0);
    const streams = new Streams();
    try {
      const subs = await Promise.all(
        [1, 2].map(() => streams.open(`${srv.url}/fruits`, { keepalives: true })),
      );
      const events = 5;
      for (let i = 0; i < events; i++) {
        const body = { i, pad: "x".repeat(i * 10) };
        assert.equal(await publish(`${srv.url}/fruits/apples`, body), 202);
      }
      assert.equal(await publish(`${srv.url}/fruits`, "[1, 2]"), 400);
      assert.equal(await publish(`${srv.url}/fruits`, "{}", { method: "DELETE" }), 405);

      let received = 0;
      for (const sub of subs) {
        received += (await sub.nextRaw()).byteLength; // the first keepalive
        for (let i = 0; i < events; i++) received += (await sub.nextRaw()).byteLength;
      }
      const after = await scrape(admin);
      const d = (key: string) => delta(before.samples, after.samples, key);
      assert.equal(after.samples.get("denopubsub_subscribers"), 2);
      assert.equal(d("denopubsub_requests_total"), 2 + events + 2);
      assert.equal(d("denopubsub_events_accepted_total"), events);
      assert.equal(d("denopubsub_events_delivered_total"), 2 * events);
      assert.equal(d("denopubsub_bytes_sent_total"), received, "bytes enqueued = bytes read");
      assert.equal(d('denopubsub_publishes_rejected_total{source="http",reason="400"}'), 1);
      assert.equal(d('denopubsub_requests_refused_total{status="400"}'), 1);
      assert.equal(d('denopubsub_requests_refused_total{status="405"}'), 1);
      assert.equal(d("denopubsub_publish_duration_seconds_count"), events);
      assert.equal(d('denopubsub_publish_duration_seconds_bucket{le="+Inf"}'), events);
      assert.ok(d("denopubsub_publish_duration_seconds_sum") > 0);
      assert.equal(after.samples.get("denopubsub_history_events"), 0);
      assert.equal(after.samples.get("denopubsub_subscribers_evicted_total"), 0);
      for (
        const name of ["denopubsub_events_accepted_total", "denopubsub_publish_duration_seconds"]
      ) {
        assert.match(after.text, new RegExp(`^# HELP ${name} .+\\n# TYPE ${name} \\w+$`, "m"));
      }
    } finally {
      await streams[Symbol.asyncDispose]();
    }
    await waitFor(() => srv.app.server.hub.size === 0, 2000, "the subscribers to leave");
    assert.equal((await scrape(admin)).samples.get("denopubsub_subscribers"), 0);
  } finally {
    await srv.close();
  }
});

engineTest("GET /metrics counts the events held for replay", async (t) => {
  const { srv, admin } = await startWithAdmin(t, { server: { backlog: { size: 3 } } });
  try {
    for (let i = 0; i < 5; i++) assert.equal(await publish(`${srv.url}/t`, { i }), 202);
    assert.equal((await scrape(admin)).samples.get("denopubsub_history_events"), 3);
  } finally {
    await srv.close();
  }
});

engineTest("GET /healthz answers 200 while the process is up", async (t) => {
  const { srv, admin } = await startWithAdmin(t);
  try {
    assert.deepEqual(await get(`${admin}/healthz`), [200, "ok\n"]);
    const head = await fetch(`${admin}/healthz`, { method: "HEAD" });
    await head.body?.cancel();
    assert.equal(head.status, 200);
  } finally {
    await srv.close();
  }
});

engineTest("GET /readyz answers 200 ready once the listeners are up", async (t) => {
  const { srv, admin } = await startWithAdmin(t);
  try {
    const res = await fetch(`${admin}/readyz`);
    assert.equal(res.headers.get("content-type"), "text/plain; charset=utf-8");
    assert.deepEqual([res.status, await res.text()], [200, "ready\n"]);
  } finally {
    await srv.close();
  }
});

// The admin listener closes last when the service stops, but nothing holds a stop open
// long enough for a request over the network to be sure of arriving meanwhile; so the
// admin handler is asked in-process, with the running app's own checks, at that moment.
engineTest("GET /readyz answers 503 naming the listeners while the service stops", async (t) => {
  const { srv } = await startWithAdmin(t);
  const sources = { metrics: srv.app.server.metrics.registry, readiness: srv.app.readiness };
  const readyz = async () => {
    const res = await handleAdmin(new Request("http://admin/readyz"), sources);
    return [res.status, await res.text()];
  };
  try {
    assert.deepEqual(await readyz(), [200, "ready\n"]);
    const stopping = srv.app.stop();
    assert.ok(srv.app.server.port !== 0, "the listeners are still up");
    assert.deepEqual(await readyz(), [503, "not ready: listeners\n"]);
    await stopping;
    assert.deepEqual(await readyz(), [503, "not ready: listeners\n"]);
  } finally {
    await srv.close();
  }
});

Deno.test("Readiness.failing() names every failing check; a check that throws fails", async () => {
  const readiness = new Readiness();
  readiness.set("listeners", () => true);
  readiness.set("storage", () => false);
  readiness.set("ldap", () => Promise.reject(new Error("unreachable")));
  assert.deepEqual(await readiness.failing(), ["storage", "ldap"]);
  readiness.set("storage", () => true);
  readiness.delete("ldap");
  assert.deepEqual(await readiness.failing(), []);
});

engineTest("the admin listener answers 404 to every other path and method", async (t) => {
  const { srv, admin } = await startWithAdmin(t);
  try {
    for (const path of ["/", "/fruits", "/metrics/x", "/healthz/", "/favicon.ico"]) {
      assert.equal((await get(`${admin}${path}`))[0], 404, path);
    }
    assert.equal((await get(`${admin}/metrics`, { method: "POST", body: "{}" }))[0], 404);
    assert.equal((await get(`${admin}/readyz`, { method: "PUT", body: "{}" }))[0], 404);
  } finally {
    await srv.close();
  }
});

engineTest("an admin port already in use stops start-up with one message", async (t) => {
  const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const admin = { bind: "127.0.0.1", port: taken.addr.port };
  const files = await writeFiles(withEngine({ admin }, t.engine));
  try {
    await assert.rejects(
      startApp(files),
      new RegExp(`^Error: cannot listen for admin on 127\\.0\\.0\\.1 port ${taken.addr.port}: `),
    );
  } finally {
    taken.close();
    await files.cleanup();
  }
});

engineTest("GET /metrics counts ACL password checks and their cache hits", async (t) => {
  const srv = await t.start({ admin: { port: 0 } }, { u: { password: "pw", acl: {} } });
  try {
    const admin = adminUrl(srv);
    const before = await scrape(admin);
    const headers = { Authorization: basic("u", "pw") };
    await using _first = await StreamClient.open(`${srv.url}/t`, { headers });
    await using _second = await StreamClient.open(`${srv.url}/t`, { headers });
    const after = await scrape(admin);
    assert.equal(delta(before.samples, after.samples, "denopubsub_acl_password_checks_total"), 1);
    assert.equal(delta(before.samples, after.samples, "denopubsub_acl_cache_hits_total"), 1);
    assert.equal(after.samples.get("denopubsub_ldap_binds_total"), 0);
  } finally {
    await srv.close();
  }
});
