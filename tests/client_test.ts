/**
 * The client library (`client/`) against real servers: in this process over both engines,
 * as a child process that is frozen, and behind a real nginx that refuses.
 */

import assert from "node:assert/strict";
import { startApp } from "../lib/app.ts";
import {
  AuthError,
  publish,
  type PubSubEvent,
  RefusedError,
  subscribe,
  type SubscribeOptions,
  type SubscriptionState,
  UnreachableError,
} from "../client/mod.ts";
import { durableFiles, freePort, ServerProcess } from "./client_helpers.ts";
import {
  engineTest,
  publish as put,
  startServer,
  StreamClient,
  waitFor,
  withEngine,
} from "./helpers.ts";
import { requireProgram } from "./programs.ts";
import { SUFFIX, USERS, withSlapd } from "./fixtures/slapd.ts";

const BACKLOG = { server: { backlog: { size: 100 } } };
/** Short waits, so that reconnects in tests take tenths of a second. */
const QUICK = { minDelayMs: 50, maxDelayMs: 400 };

/** A subscription iterated in the background, with what it yielded and reported. */
class Collector {
  readonly events: PubSubEvent[] = [];
  readonly states: SubscriptionState[] = [];
  error: unknown = null;
  readonly done: Promise<void>;
  readonly #stop = new AbortController();

  constructor(url: string, opts: SubscribeOptions = {}) {
    const onState = (state: SubscriptionState) => void this.states.push(state);
    const options = { ...QUICK, ...opts, signal: this.#stop.signal, onState };
    this.done = (async () => {
      try {
        for await (const event of subscribe(url, options)) this.events.push(event);
      } catch (err) {
        this.error = err;
      }
    })();
  }

  /** States of one type. */
  of<T extends SubscriptionState["type"]>(type: T): Extract<SubscriptionState, { type: T }>[] {
    return this.states.filter((s) => s.type === type) as Extract<SubscriptionState, { type: T }>[];
  }

  /** Waits for the `count`-th answer with a stream. */
  connected(count = 1, timeoutMs = 5000): Promise<void> {
    return waitFor(() => this.of("connected").length >= count, timeoutMs, `connection ${count}`);
  }

  /** Waits until `count` events arrived. */
  received(count: number, timeoutMs = 5000): Promise<void> {
    return waitFor(() => this.events.length >= count, timeoutMs, `${count} events`);
  }

  /** Aborts and waits for the iteration to end. */
  async stop(): Promise<void> {
    this.#stop.abort();
    await this.done;
  }
}

const ns = (events: PubSubEvent[]) => events.map((e) => e.n);

engineTest(
  "subscribe() yields events in order, parsed, and keepalives only when asked",
  async (t) => {
    const srv = await t.start();
    const plain = new Collector(`${srv.url}/t`);
    const withKeepalives = new Collector(`${srv.url}/t`, { keepalives: true });
    try {
      await plain.connected();
      await withKeepalives.connected();
      for (let n = 0; n < 3; n++) assert.equal(await put(`${srv.url}/t`, { n }), 202);
      await plain.received(3);
      await withKeepalives.received(4);
      assert.deepEqual(ns(plain.events), [0, 1, 2]);
      assert.deepEqual(plain.events[0]!.pubsub_topics, ["t"]);
      assert.equal(typeof withKeepalives.events[0]!.stillalive, "number", "the first line");
      assert.deepEqual(ns(withKeepalives.events.filter((e) => !("stillalive" in e))), [0, 1, 2]);
    } finally {
      await plain.stop();
      await withKeepalives.stop();
      await srv.close();
    }
  },
);

engineTest(
  "subscribe() resumes after the last event it yielded when the server restarts",
  async (t) => {
    const files = await durableFiles(withEngine({}, t.engine));
    const url = `http://127.0.0.1:${files.port}`;
    let app = await startApp(files);
    // The first reconnect waits at least 150 ms: the events published meanwhile are replayed.
    const sub = new Collector(`${url}/t`, { minDelayMs: 300 });
    try {
      await sub.connected();
      for (let n = 1; n <= 3; n++) assert.equal(await put(`${url}/t`, { n }), 202);
      await sub.received(3);
      await app.stop();
      app = await startApp(files);
      for (let n = 4; n <= 6; n++) assert.equal(await put(`${url}/t`, { n }), 202);
      await sub.received(6);
      await sub.connected(2);
      assert.deepEqual(ns(sub.events), [1, 2, 3, 4, 5, 6]);
      const resumed = sub.of("connecting").find((s) => s.cursor !== null);
      assert.equal(resumed?.cursor, sub.events[2]!.pubsub_cursor, "resumed after event 3");
      assert.ok(sub.of("disconnected").length >= 1);
    } finally {
      await sub.stop();
      await app.stop();
      await files.cleanup();
    }
  },
);

engineTest("subscribe() starts after `cursor`, or from `since`", async (t) => {
  const srv = await t.start(BACKLOG);
  const subs: Collector[] = [];
  try {
    for (let n = 1; n <= 3; n++) assert.equal(await put(`${srv.url}/t`, { n }), 202);
    const fromZero = new Collector(`${srv.url}/t`, { since: 0 });
    subs.push(fromZero);
    await fromZero.received(3);
    const afterFirst = new Collector(`${srv.url}/t`, { cursor: fromZero.events[0]!.pubsub_cursor });
    subs.push(afterFirst);
    await afterFirst.connected();
    assert.equal(await put(`${srv.url}/t`, { n: 4 }), 202);
    await afterFirst.received(3);
    await fromZero.received(4);
    assert.deepEqual(ns(afterFirst.events), [2, 3, 4]);
    assert.deepEqual(ns(fromZero.events), [1, 2, 3, 4]);
  } finally {
    for (const sub of subs) await sub.stop();
    await srv.close();
  }
});

engineTest(
  "subscribe() reports a cursor the server cannot place and goes on from its newest",
  async (t) => {
    const srv = await t.start(BACKLOG);
    const pypubsubCursor = "3f1c2b8e-9a4d-4c2e-8f6b-1d2e3f4a5b6c";
    assert.equal(await put(`${srv.url}/t`, { n: 1 }), 202);
    const sub = new Collector(`${srv.url}/t`, { cursor: pypubsubCursor });
    try {
      await sub.connected();
      assert.deepEqual(sub.of("cursor-unknown"), [{
        type: "cursor-unknown",
        cursor: pypubsubCursor,
      }]);
      const connected = sub.of("connected")[0]!;
      assert.ok(connected.newestCursor, "the server has an event");
      assert.equal(connected.cursor, connected.newestCursor, "resumes from the newest event");
      assert.equal(await put(`${srv.url}/t`, { n: 2 }), 202);
      await sub.received(1);
      await sub.stop();
      assert.deepEqual(ns(sub.events), [2], "nothing replayed, then live");
    } finally {
      await sub.stop();
      await srv.close();
    }
  },
);

engineTest("subscribe() reports events lost to retention", async (t) => {
  const srv = await t.start({ server: { backlog: { size: 2 } } });
  const live = new Collector(`${srv.url}/t`);
  let late: Collector | null = null;
  try {
    await live.connected();
    for (let n = 1; n <= 5; n++) assert.equal(await put(`${srv.url}/t`, { n }), 202);
    await live.received(5);
    const cursor = live.events[0]!.pubsub_cursor!;
    late = new Collector(`${srv.url}/t`, { cursor });
    await late.received(2);
    assert.deepEqual(late.of("truncated"), [{ type: "truncated", cursor }]);
    assert.deepEqual(ns(late.events), [4, 5]);
  } finally {
    await live.stop();
    await late?.stop();
    await srv.close();
  }
});

engineTest(
  "subscribe() ends with AuthError on 401; the right password gets private events",
  async (t) => {
    const acl = { alice: { password: "alice-pw", acl: { s: ["secret"] } } };
    const srv = await t.start({}, acl);
    const wrong = new Collector(`${srv.url}/secret`, { auth: { user: "alice", password: "nope" } });
    const right = new Collector(`${srv.url}/secret`, {
      auth: { user: "alice", password: "alice-pw" },
    });
    try {
      await wrong.done;
      assert.ok(wrong.error instanceof AuthError, `got ${wrong.error}`);
      assert.equal(wrong.error.status, 401);
      assert.equal(wrong.error.reason, "wrong user name or password");
      assert.equal(wrong.of("disconnected").length, 0, "no retry");
      await right.connected();
      assert.equal(await put(`${srv.url}/private/secret`, { n: 1 }), 202);
      await right.received(1);
      assert.equal(right.events[0]!.pubsub_path, "/private/secret");
    } finally {
      await wrong.stop();
      await right.stop();
      await srv.close();
    }
  },
);

/** A real nginx on a free port that refuses every request with 403, as a site limited to an intranet would. */
async function refusingNginx(): Promise<{ url: string; stop(): Promise<void> }> {
  const dir = await Deno.makeTempDir({ prefix: "nginx-client-test-" });
  const port = freePort();
  const temp = ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"]
    .map((name) => `${name}_temp_path ${dir}/${name};`).join("\n  ");
  await Deno.writeTextFile(
    `${dir}/main.conf`,
    `daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log;
events { worker_connections 16; }
http {
  access_log off;
  ${temp}
  server { listen 127.0.0.1:${port}; location / { deny all; } }
}
`,
  );
  const child = new Deno.Command(requireProgram("nginx"), {
    args: ["-p", dir, "-e", `${dir}/error.log`, "-c", `${dir}/main.conf`],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  const stop = async () => {
    child.kill("SIGTERM");
    await child.status;
    await Deno.remove(dir, { recursive: true });
  };
  const deadline = Date.now() + 5000;
  for (;;) {
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      return { url: `http://127.0.0.1:${port}`, stop };
    } catch (err) {
      if (Date.now() > deadline) {
        await stop();
        throw err;
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

Deno.test("subscribe() ends with AuthError on 403 from a proxy that refuses", async () => {
  const nginx = await refusingNginx();
  const sub = new Collector(`${nginx.url}/t`);
  try {
    await sub.done;
    assert.ok(sub.error instanceof AuthError, `got ${sub.error}`);
    assert.equal(sub.error.status, 403);
    assert.equal(sub.error.reason, "Forbidden", "the status text stands in for an HTML page");
    assert.equal(sub.of("disconnected").length, 0, "no retry");
  } finally {
    await sub.stop();
    await nginx.stop();
  }
});

engineTest("subscribe() ends quietly on abort; leaving the loop closes the stream", async (t) => {
  const srv = await t.start();
  const aborted = new Collector(`${srv.url}/t`);
  try {
    await aborted.connected();
    await aborted.stop();
    assert.equal(aborted.error, null);
    await waitFor(() => srv.app.server.hub.size === 0, 3000, "the aborted stream to close");

    const stop = new AbortController();
    const events = subscribe(`${srv.url}/t`, { signal: stop.signal });
    const publishing = (async () => {
      await waitFor(() => srv.app.server.hub.size === 1, 3000, "the subscriber");
      assert.equal(await put(`${srv.url}/t`, { n: 1 }), 202);
    })();
    for await (const event of events) {
      assert.equal(event.n, 1);
      break;
    }
    await publishing;
    await waitFor(() => srv.app.server.hub.size === 0, 3000, "the stream left by break to close");
  } finally {
    await aborted.stop();
    await srv.close();
  }
});

engineTest(
  "a server frozen with SIGSTOP is detected by silence; the client reconnects after SIGCONT",
  async (t) => {
    const files = await durableFiles(withEngine({ server: { keepalive: 0.2 } }, t.engine));
    const server = await ServerProcess.start(files);
    const sub = new Collector(`${server.url}/t`, { keepaliveMs: 200 });
    let frozen = false;
    try {
      await sub.connected();
      assert.equal(await put(`${server.url}/t`, { n: 1 }), 202);
      await sub.received(1);
      server.signal("SIGSTOP");
      frozen = true;
      await waitFor(
        () => sub.of("disconnected").some((s) => s.reason === "no bytes for 0.6 s"),
        5000,
        "the silence to be noticed",
      );
      const before = sub.of("connected").length;
      server.signal("SIGCONT");
      frozen = false;
      await sub.connected(before + 1);
      assert.equal(await put(`${server.url}/t`, { n: 2 }), 202);
      await sub.received(2);
      assert.deepEqual(ns(sub.events), [1, 2]);
    } finally {
      if (frozen) server.signal("SIGCONT");
      await sub.stop();
      await server.stop();
      await files.cleanup();
    }
  },
);

engineTest("publish() resolves on 202 and sends a string exactly as written", async (t) => {
  const srv = await t.start();
  const stream = await StreamClient.open(`${srv.url}/t`);
  try {
    await publish(`${srv.url}/t`, '{"big": 12345678901234567890, "z": 1, "a": 2}');
    await publish(new URL(`${srv.url}/t/x`), { n: 2 });
    const first = new TextDecoder().decode(await stream.nextRaw());
    assert.match(first, /^\{"big": 12345678901234567890, "z": 1, "a": 2,/);
    assert.equal((await stream.next()).n, 2);
  } finally {
    await stream.close();
    await srv.close();
  }
});

engineTest(
  "publish() throws the status and the server's reason, and retries no refusal",
  async (t) => {
    const srv = await t.start({ clients: { payloaders: ["10.0.0.0/8"] } }, {
      alice: { password: "alice-pw" },
    });
    try {
      const forbidden = await publish(`${srv.url}/t`, { n: 1 }).catch((err) => err);
      assert.ok(forbidden instanceof AuthError, `got ${forbidden}`);
      assert.equal(forbidden.reason, "address 127.0.0.1 is not allowed to publish");
      const wrong = await publish(`${srv.url}/t`, { n: 1 }, {
        auth: { user: "alice", password: "x" },
      })
        .catch((err) => err);
      assert.ok(wrong instanceof AuthError && wrong.status === 401, `got ${wrong}`);
      assert.equal(srv.app.server.metrics.refused.get(["403"]), 1, "one attempt each");
      assert.equal(srv.app.server.metrics.refused.get(["401"]), 1);
    } finally {
      await srv.close();
    }
  },
);

engineTest("publish() throws RefusedError for a body the server rejects", async (t) => {
  const srv = await t.start();
  try {
    const err = await publish(`${srv.url}/t`, "[1]").catch((err) => err);
    assert.ok(err instanceof RefusedError && !(err instanceof AuthError), `got ${err}`);
    assert.equal(err.status, 400);
    assert.match(err.reason, /JSON object/);
    assert.equal(err.message, `400 ${err.reason}`);
  } finally {
    await srv.close();
  }
});

Deno.test("publish() retries 503 while LDAP is down, waiting what Retry-After asks", async () => {
  await withSlapd(async (slapd) => {
    const ldap = {
      uri: slapd.url,
      user_dn: `uid=%s,ou=people,${SUFFIX}`,
      base_scope: SUFFIX,
      acl: {},
      timeout: 1,
    };
    const srv = await startServer({ clients: { ldap } });
    try {
      await slapd.stop();
      const auth = { user: USERS.bob.name, password: USERS.bob.password };
      const started = Date.now();
      const pending = publish(`${srv.url}/t`, { n: 1 }, { auth, minDelayMs: 50 });
      const refused = () => srv.app.server.metrics.refused.get(["503"]);
      await waitFor(() => refused() === 1, 5000, "a 503");
      await slapd.start();
      await pending;
      assert.equal(refused(), 1, "one 503, then accepted");
      assert.equal(srv.app.server.metrics.accepted.value, 1);
      assert.ok(Date.now() - started >= 2000, "waited the 2 s of Retry-After, not 50 ms");
    } finally {
      await srv.close();
    }
  });
});

Deno.test("publish() retries until the server listens, and gives up with UnreachableError", async () => {
  const port = freePort();
  const pending = publish(`http://127.0.0.1:${port}/t`, { n: 1 }, { ...QUICK, retries: 20 });
  await new Promise((r) => setTimeout(r, 300));
  const srv = await startServer({ server: { port } });
  try {
    await pending;
    assert.equal(srv.app.server.metrics.accepted.value, 1);
  } finally {
    await srv.close();
  }
  const err = await publish(`http://127.0.0.1:${port}/t`, { n: 2 }, { minDelayMs: 10, retries: 2 })
    .catch((err) => err);
  assert.ok(err instanceof UnreachableError, `got ${err}`);
  assert.equal(err.attempts, 3);
});
