import assert from "node:assert/strict";
import { stringify } from "yaml";
import { Acl, type AclCheck, loadAcl } from "../lib/auth/acl.ts";
import { ConfigError } from "../lib/section.ts";
import { configureLog } from "../lib/log.ts";
import { hashPassword, MAX_RUNNING, MAX_WAITING } from "../lib/auth/password.ts";
import { basic, engineTest, publish, StreamClient, Streams, waitFor } from "./helpers.ts";
import { FAST, holdChecks } from "./password_checks.ts";

const USERS = {
  alice: {
    password: "s3cret:with:colons",
    acl: { repo: ["git", "privaterepo.git"], mail: ["email", "example.org", "dev"] },
    topics: ["svn"],
  },
  bob: { password: "hunter2", acl: { other: ["git", "otherrepo.git"] } },
};

function userOf(check: AclCheck): string | undefined {
  return check.status === "ok" ? check.principal.user : undefined;
}

Deno.test("Acl.parse() loads PyPubSub's sample ACL unchanged", async () => {
  const acl = Acl.parse({
    testuser: {
      password: "foobar",
      acl: {
        title_of_my_first_access_segment: ["git", "privaterepo.git"],
        allow_email_access_for_foobar: ["email", "example.org", "dev"],
      },
    },
  }, "pubsub_acl.yaml");
  const check = await acl.authenticate("testuser", "foobar");
  assert.equal(check.status === "ok" && check.principal.segments.size, 2);
  assert.deepEqual(await acl.authenticate("testuser", "wrong"), { status: "denied" });
  assert.deepEqual(await acl.authenticate("nobody", "foobar"), { status: "denied" });
  assert.deepEqual(acl.plaintextUsers, ["testuser"]);
});

Deno.test("Acl.authenticate() checks scrypt hashes and plaintext, colons included", async () => {
  const acl = Acl.parse({
    hashed: { password: await hashPassword("pa:ss:word", FAST) },
    plain: { password: "pa:ss:word" },
    number: { password: 1234 },
  }, "acl.yaml");
  assert.deepEqual(acl.plaintextUsers, ["plain", "number"]);
  for (const user of ["hashed", "plain"]) {
    assert.equal(userOf(await acl.authenticate(user, "pa:ss:word")), user);
    assert.equal(userOf(await acl.authenticate(user, "pa:ss")), undefined);
    assert.equal(userOf(await acl.authenticate(user, "pa:ss:word:")), undefined);
    assert.equal(userOf(await acl.authenticate(user, "")), undefined);
  }
  assert.equal(userOf(await acl.authenticate("number", "1234")), "number");
});

Deno.test("Acl.authenticate() runs one check per credentials, and a new Acl starts afresh", async () => {
  const raw = { alice: { password: await hashPassword("secret", FAST) } };
  const acl = Acl.parse(raw, "acl.yaml");
  const burst = await Promise.all(
    Array.from({ length: 50 }, () => acl.authenticate("alice", "secret")),
  );
  assert.ok(burst.every((check) => userOf(check) === "alice"));
  for (let i = 0; i < 50; i++) {
    assert.equal(userOf(await acl.authenticate("alice", "secret")), "alice");
  }
  assert.deepEqual(acl.stats(), { checks: 1, cacheHits: 99, busy: 0 });

  for (let i = 0; i < 3; i++) {
    assert.equal((await acl.authenticate("alice", "stale")).status, "denied");
  }
  assert.equal((await acl.authenticate("alice", "other")).status, "denied");
  assert.equal(acl.stats().checks, 3, "a repeated wrong password is checked once");

  const reloaded = Acl.parse(raw, "acl.yaml");
  assert.equal(userOf(await reloaded.authenticate("alice", "secret")), "alice");
  assert.equal(reloaded.stats().checks, 1);
});

Deno.test("Acl.authenticate() spends a full check on an unknown user", async () => {
  const acl = Acl.parse({ alice: { password: await hashPassword("secret") } }, "acl.yaml");
  const time = async (user: string) => {
    const start = performance.now();
    assert.equal((await acl.authenticate(user, "guess")).status, "denied");
    return performance.now() - start;
  };
  const known = await time("alice");
  const unknown = await time("mallory");
  assert.equal(acl.stats().checks, 2);
  // A lower bound only: one scrypt at the default cost takes well over 20 ms anywhere.
  assert.ok(known > 20 && unknown > 20, `known ${known} ms, unknown ${unknown} ms`);
});

Deno.test("Acl.authenticate() reuses a right password for 30 s and a wrong one for 5 s", async () => {
  let now = 1_000_000;
  const start = now;
  const acl = Acl.parse(
    { alice: { password: await hashPassword("right", FAST) } },
    "acl.yaml",
    () => now,
  );
  const check = async (password: string, at: number) => {
    now = start + at;
    await acl.authenticate("alice", password);
    return acl.stats().checks;
  };
  assert.equal(await check("right", 0), 1);
  assert.equal(await check("wrong", 0), 2);
  assert.equal(await check("wrong", 4_999), 2, "a wrong password is remembered");
  assert.equal(await check("wrong", 5_000), 3, "for 5 s");
  assert.equal(await check("right", 29_999), 3, "a right password is remembered");
  assert.equal(await check("right", 30_000), 4, "for 30 s");
});

Deno.test("loadAcl() warns once per load about plaintext passwords, naming the users", async () => {
  const dir = await Deno.makeTempDir({ prefix: "denopubsub-acl-" });
  const lines: string[] = [];
  const before = configureLog({ level: "warn", write: (line) => lines.push(line) });
  try {
    const file = `${dir}/acl.yaml`;
    await Deno.writeTextFile(
      file,
      stringify({
        alice: { password: "one" },
        bob: { password: "two" },
        carol: { password: await hashPassword("three", FAST) },
      }),
    );
    await loadAcl(file);
    assert.equal(lines.length, 1, lines.join("\n"));
    assert.match(lines[0]!, /plaintext.*deno task passwd.*count=2.*users="?alice, bob/);
    await loadAcl(file);
    assert.equal(lines.length, 2, "once per load");
    await Deno.writeTextFile(
      file,
      stringify({ carol: { password: await hashPassword("x", FAST) } }),
    );
    await loadAcl(file);
    assert.equal(lines.length, 2, "no warning without plaintext");
  } finally {
    configureLog(before);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("Acl.parse() errors name the file, the user key and the problem", () => {
  const cases: [unknown, RegExp][] = [
    [["x"], /^a\.yaml: top level: must be a mapping/],
    [{ u: "pw" }, /^a\.yaml: u: must be a mapping/],
    [{ u: { acl: {} } }, /^a\.yaml: u\.password: must be a string/],
    [{ u: { password: "p", acl: ["git"] } }, /^a\.yaml: u\.acl: must be a mapping/],
    [{ u: { password: "p", acl: { s: "git" } } }, /^a\.yaml: u\.acl\.s: must be a list of topics/],
    [{ u: { password: "p", topics: "svn" } }, /^a\.yaml: u\.topics: must be a list/],
    [
      { u: { password: "scrypt$1536$8$1$c2FsdHNhbHQ=$" + "A".repeat(43) + "=" } },
      /^a\.yaml: u\.password: scrypt N must be a power of two/,
    ],
    [
      { u: { password: "scrypt$1024$8$1$salt" } },
      /^a\.yaml: u\.password: an scrypt hash must read/,
    ],
  ];
  for (const [raw, pattern] of cases) {
    assert.throws(() => Acl.parse(raw, "a.yaml"), (err: Error) => {
      assert.ok(err instanceof ConfigError);
      assert.match(err.message, pattern);
      return true;
    });
  }
});

engineTest("a private event reaches only subscribers whose segment it covers", async (t) => {
  const srv = await t.start({}, USERS);
  try {
    await using streams = new Streams();
    const alice = await streams.open(`${srv.url}/git`, {
      headers: { Authorization: basic("alice", USERS.alice.password) },
    });
    const bob = await streams.open(`${srv.url}/git`, {
      headers: { Authorization: basic("bob", "hunter2") },
    });
    const anonymous = await streams.open(`${srv.url}/git`);
    const everything = await streams.open(`${srv.url}/`);

    await publish(`${srv.url}/private/git/privaterepo.git/commit`, { n: 1 });
    await publish(`${srv.url}/git/public`, { n: 2 });
    const first = await alice.next();
    assert.equal(first.n, 1);
    assert.deepEqual(first.pubsub_topics, ["git", "privaterepo.git", "commit"]);
    assert.equal(first.pubsub_path, "/private/git/privaterepo.git/commit");
    assert.equal((await alice.next()).n, 2);
    for (const other of [bob, anonymous, everything]) assert.equal((await other.next()).n, 2);
  } finally {
    await srv.close();
  }
});

engineTest("a private event still needs the subscription's own topics", async (t) => {
  const srv = await t.start({}, USERS);
  try {
    const auth = { Authorization: basic("alice", USERS.alice.password) };
    await using mail = await StreamClient.open(`${srv.url}/email`, { headers: auth });
    await using wrongTopic = await StreamClient.open(`${srv.url}/svn`, { headers: auth });
    await publish(`${srv.url}/private/email/example.org/dev`, { n: 1 });
    await publish(`${srv.url}/private/email/example.org/users`, { n: 2 });
    assert.equal((await mail.next()).n, 1);
    await mail.expectSilence();
    await wrongTopic.expectSilence();
  } finally {
    await srv.close();
  }
});

engineTest("wrong credentials answer 401 with WWW-Authenticate", async (t) => {
  const srv = await t.start({}, USERS);
  try {
    const headers = [
      basic("alice", "wrong"),
      basic("mallory", "x"),
      "Basic !!!notbase64",
      "Basic " + btoa("no-colon"),
      "Bearer abc",
    ];
    for (const authorization of headers) {
      for (const method of ["GET", "PUT"]) {
        const res = await fetch(`${srv.url}/git`, {
          method,
          headers: { Authorization: authorization },
          body: method === "PUT" ? "{}" : undefined,
        });
        assert.equal(res.status, 401, `${method} ${authorization}`);
        assert.match(res.headers.get("www-authenticate") ?? "", /^Basic realm=/);
        assert.equal(res.headers.get("content-type"), "text/plain; charset=utf-8");
        assert.equal((await res.text()).trimEnd().split("\n").length, 1);
      }
    }
  } finally {
    await srv.close();
  }
});

engineTest("secure topics need a user granted every secure topic in the path", async (t) => {
  const srv = await t.start({
    clients: { payloaders: ["10.0.0.0/8"], secure_topics: ["svn", "infra"] },
  }, USERS);
  try {
    await using sub = await StreamClient.open(`${srv.url}/`);
    const alice = { Authorization: basic("alice", USERS.alice.password) };
    const bob = { Authorization: basic("bob", "hunter2") };
    assert.equal(await publish(`${srv.url}/svn/commit`, { n: 1 }, { headers: alice }), 202);
    assert.equal(await publish(`${srv.url}/svn/commit`, {}), 401);
    assert.equal(await publish(`${srv.url}/svn/commit`, {}, { headers: bob }), 403);
    assert.equal(await publish(`${srv.url}/svn/infra`, {}, { headers: alice }), 403);
    // Paths without secure topics follow the allow-list, which excludes loopback here.
    assert.equal(await publish(`${srv.url}/git/commit`, {}, { headers: alice }), 403);
    assert.equal((await sub.next()).n, 1);
    await sub.expectSilence();
  } finally {
    await srv.close();
  }
});

engineTest(
  "an ACL reload shrinks and revokes private events on open streams at once",
  async (t) => {
    const srv = await t.start({}, USERS);
    try {
      await using alice = await StreamClient.open(`${srv.url}/git`, {
        headers: { Authorization: basic("alice", USERS.alice.password) },
      });
      await publish(`${srv.url}/private/git/privaterepo.git`, { n: 1 });
      assert.equal((await alice.next()).n, 1);

      const narrower = { ...USERS.alice, acl: { repo: ["git", "privaterepo.git", "main"] } };
      await Deno.writeTextFile(srv.files.acl, stringify({ ...USERS, alice: narrower }));
      assert.ok(await srv.app.reload("acl"));
      await publish(`${srv.url}/private/git/privaterepo.git`, { n: 1.5 });
      await publish(`${srv.url}/private/git/privaterepo.git/main`, { n: 1.6 });
      assert.equal((await alice.next()).n, 1.6, "the shrunk segment applies without a reconnect");

      await Deno.writeTextFile(srv.files.acl, stringify({ bob: USERS.bob }));
      assert.ok(await srv.app.reload("acl"));
      await publish(`${srv.url}/private/git/privaterepo.git`, { n: 2 });
      await publish(`${srv.url}/git/public`, { n: 3 });
      assert.equal((await alice.next()).n, 3, "private event withheld, stream still open");

      await Deno.writeTextFile(srv.files.acl, stringify({ ...USERS, carol: { password: "c" } }));
      assert.ok(await srv.app.reload("acl"));
      const carol = await fetch(`${srv.url}/git`, {
        headers: { Authorization: basic("carol", "c") },
      });
      assert.equal(carol.status, 200, "a user added by reload can log in");
      await carol.body?.cancel();

      await Deno.writeTextFile(srv.files.acl, "alice: [broken");
      assert.equal(await srv.app.reload("acl"), false, "an invalid ACL is refused");
      const stillCarol = await fetch(`${srv.url}/git`, {
        headers: { Authorization: basic("carol", "c") },
      });
      assert.equal(stillCarol.status, 200, "the running ACL stays in force");
      await stillCarol.body?.cancel();
    } finally {
      await srv.close();
    }
  },
);

engineTest("a storm of 200 wrong passwords does not stop delivery or cached logins", async (t) => {
  const alice = { password: await hashPassword("right", FAST), acl: { all: ["storm"] } };
  const srv = await t.start({}, { alice, bob: { password: await hashPassword("bob") } });
  try {
    const auth = { Authorization: basic("alice", "right") };
    await using streams = new Streams();
    const reader = await streams.open(`${srv.url}/storm`, { headers: auth });
    const storm = Promise.all(Array.from({ length: 200 }, async (_, i) => {
      const res = await fetch(`${srv.url}/storm`, {
        headers: { Authorization: basic(i % 2 ? "bob" : "mallory", `wrong-${i}`) },
      });
      await res.body?.cancel();
      return [res.status, res.headers.get("retry-after")] as const;
    }));
    try {
      for (let n = 0; n < 20; n++) {
        const path = n % 2 ? "/private/storm" : "/storm";
        assert.equal(await publish(`${srv.url}${path}`, { n }), 202);
        assert.equal((await reader.next()).n, n);
      }
      const again = await streams.open(`${srv.url}/storm`, { headers: auth });
      assert.equal(await publish(`${srv.url}/private/storm`, { n: 20 }), 202);
      assert.equal((await again.next()).n, 20, "a cached login goes past the queue");
    } finally {
      const answers = await storm;
      const count = (status: number) => answers.filter(([s]) => s === status).length;
      assert.equal(count(401) + count(503), 200, `statuses: ${[...new Set(answers)]}`);
      assert.ok(count(401) > 0, "the first wrong passwords are checked and refused");
      // 200 logins at once overflow a queue of 16 per running check.
      assert.ok(count(503) > 0, "the rest are refused at once");
      assert.ok(answers.every(([s, retry]) => s !== 503 || retry === "2"), "503 says when");
    }
  } finally {
    await srv.close();
  }
});

engineTest(
  "a login answers 503 with Retry-After at once when 16 checks per running one wait",
  async (t) => {
    assert.equal(MAX_RUNNING, Math.max(1, navigator.hardwareConcurrency - 1));
    assert.equal(MAX_WAITING, 16 * MAX_RUNNING);
    const alice = { password: await hashPassword("right", FAST), acl: {} };
    const srv = await t.start({}, { alice });
    try {
      const login = () =>
        fetch(`${srv.url}/t`, { headers: { Authorization: basic("alice", "right") } });
      {
        await using held = await holdChecks(MAX_WAITING);
        const refused = await login();
        assert.equal(refused.status, 503);
        assert.equal(refused.headers.get("retry-after"), "2");
        assert.equal(refused.headers.get("content-type"), "text/plain; charset=utf-8");
        assert.equal(await refused.text(), "too many logins under way; try again shortly\n");
        assert.ok(!held.done(), "answered without waiting for a slot");
      }
      {
        await using _held = await holdChecks(MAX_WAITING - 1);
        const waited = await login();
        await waited.body?.cancel();
        assert.equal(waited.status, 200, "one place left in the queue: the login waits its turn");
      }
    } finally {
      await srv.close();
    }
  },
);

engineTest("a login that finishes after an ACL reload holds what the new ACL grants", async (t) => {
  const acl = (segment: string) => ({ alice: { password: "pw", acl: { s: ["git", segment] } } });
  const srv = await t.start({}, acl("old"));
  const { requests } = srv.app.server.metrics;
  const before = requests.value;
  let opening: Promise<StreamClient> | undefined;
  try {
    {
      await using _held = await holdChecks(0);
      opening = StreamClient.open(`${srv.url}/git`, {
        headers: { Authorization: basic("alice", "pw") },
      });
      // The request is counted as it arrives, and queues for a check in the same step.
      await waitFor(() => requests.value === before + 1, 2000, "the login to queue");
      await Deno.writeTextFile(srv.files.acl, stringify(acl("new")));
      assert.ok(await srv.app.reload("acl"));
    }
    await using sub = await opening;
    assert.equal(await publish(`${srv.url}/private/git/old`, { n: "old" }), 202);
    assert.equal(await publish(`${srv.url}/private/git/new`, { n: "new" }), 202);
    assert.equal((await sub.next()).n, "new");
  } finally {
    await opening?.then((sub) => sub.close(), () => {});
    await srv.close();
  }
});

Deno.test("loadAcl() says what a missing file means, with and without LDAP", async () => {
  const lines: string[] = [];
  const before = configureLog({ level: "warn", write: (line) => lines.push(line) });
  try {
    const missing = `${await Deno.makeTempDir({ prefix: "denopubsub-acl-" })}/none.yaml`;
    assert.equal((await loadAcl(missing)).size, 0);
    assert.equal((await loadAcl(missing, true)).size, 0);
    assert.equal(lines.length, 2, lines.join("\n"));
    assert.match(lines[0]!, /ACL file not found; private events will reach nobody/);
    assert.match(lines[1]!, /ACL file not found; only LDAP users can log in/);
    await Deno.remove(missing.slice(0, missing.lastIndexOf("/")));
  } finally {
    configureLog(before);
  }
});
