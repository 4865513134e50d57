import assert from "node:assert/strict";
import { startApp } from "../lib/app.ts";
import {
  basic,
  type ConfigPatch,
  publish,
  startServer,
  StreamClient,
  waitFor,
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

async function startWithAdmin(patch: ConfigPatch = {}) {
  const srv = await startServer({ admin: { port: 0 }, ...patch });
  assert.ok(srv.app.admin, "admin listener started");
  return { srv, admin: `http://127.0.0.1:${srv.app.admin.port}` };
}

async function get(url: string, init: RequestInit = {}): Promise<[number, string]> {
  const res = await fetch(url, init);
  return [res.status, await res.text()];
}

Deno.test("the admin listener is off unless admin.port is set", async () => {
  const srv = await startServer();
  try {
    assert.equal(srv.app.admin, null);
    assert.equal(srv.app.server.settings.config.admin.port, null);
  } finally {
    await srv.close();
  }
});

Deno.test("GET /metrics shows the counters moving while events are published", async () => {
  const { srv, admin } = await startWithAdmin({ server: { keepalive: "1h" } });
  try {
    const before = await scrape(admin);
    assert.equal(before.samples.get("denopubsub_subscribers"), 0);
    const subs = await Promise.all(
      [1, 2].map(() => StreamClient.open(`${srv.url}/fruits`, { keepalives: true })),
    );
    const events = 5;
    for (let i = 0; i < events; i++) {
      assert.equal(await publish(`${srv.url}/fruits/apples`, { i, pad: "x".repeat(i * 10) }), 202);
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

    await Promise.all(subs.map((s) => s.close()));
    await waitFor(() => srv.app.server.hub.size === 0, 2000, "the subscribers to leave");
    assert.equal((await scrape(admin)).samples.get("denopubsub_subscribers"), 0);
  } finally {
    await srv.close();
  }
});

Deno.test("GET /healthz answers 200 while the process is up", async () => {
  const { srv, admin } = await startWithAdmin();
  try {
    assert.deepEqual(await get(`${admin}/healthz`), [200, "ok\n"]);
    const head = await fetch(`${admin}/healthz`, { method: "HEAD" });
    await head.body?.cancel();
    assert.equal(head.status, 200);
  } finally {
    await srv.close();
  }
});

Deno.test("GET /readyz answers 503 naming each failing check, 200 when all hold", async () => {
  const { srv, admin } = await startWithAdmin();
  try {
    assert.deepEqual(await get(`${admin}/readyz`), [200, "ready\n"]);
    srv.app.readiness.set("storage", () => false);
    srv.app.readiness.set("ldap", () => Promise.reject(new Error("unreachable")));
    assert.deepEqual(await get(`${admin}/readyz`), [503, "not ready: storage, ldap\n"]);
    srv.app.readiness.delete("storage");
    srv.app.readiness.delete("ldap");
    assert.deepEqual(await get(`${admin}/readyz`), [200, "ready\n"]);
    await srv.app.server.close();
    assert.deepEqual(await get(`${admin}/readyz`), [503, "not ready: listeners\n"]);
  } finally {
    await srv.close();
  }
});

Deno.test("the admin listener answers 404 to every other path and method", async () => {
  const { srv, admin } = await startWithAdmin();
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

Deno.test("an admin port already in use stops start-up with one message", async () => {
  const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const files = await writeFiles({ admin: { bind: "127.0.0.1", port: taken.addr.port } });
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

Deno.test("GET /metrics counts ACL password checks and their cache hits", async () => {
  const srv = await startServer({ admin: { port: 0 } }, { u: { password: "pw", acl: {} } });
  const admin = `http://127.0.0.1:${srv.app.admin!.port}`;
  try {
    const before = await scrape(admin);
    const sub = await StreamClient.open(`${srv.url}/t`, {
      headers: { Authorization: basic("u", "pw") },
    });
    const sub2 = await StreamClient.open(`${srv.url}/t`, {
      headers: { Authorization: basic("u", "pw") },
    });
    const after = await scrape(admin);
    assert.equal(delta(before.samples, after.samples, "denopubsub_acl_password_checks_total"), 1);
    assert.equal(delta(before.samples, after.samples, "denopubsub_acl_cache_hits_total"), 1);
    assert.equal(after.samples.get("denopubsub_ldap_binds_total"), 0);
    await Promise.all([sub.close(), sub2.close()]);
  } finally {
    await srv.close();
  }
});
