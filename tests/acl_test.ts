import assert from "node:assert/strict";
import { stringify } from "yaml";
import { Acl } from "../lib/acl.ts";
import { ConfigError } from "../lib/config.ts";
import { basic, publish, startServer, StreamClient } from "./helpers.ts";

const USERS = {
  alice: {
    password: "s3cret:with:colons",
    acl: { repo: ["git", "privaterepo.git"], mail: ["email", "example.org", "dev"] },
    topics: ["svn"],
  },
  bob: { password: "hunter2", acl: { other: ["git", "otherrepo.git"] } },
};

Deno.test("Acl.parse() loads PyPubSub's sample ACL unchanged", () => {
  const acl = Acl.parse({
    testuser: {
      password: "foobar",
      acl: {
        title_of_my_first_access_segment: ["git", "privaterepo.git"],
        allow_email_access_for_foobar: ["email", "example.org", "dev"],
      },
    },
  }, "pubsub_acl.yaml");
  const principal = acl.authenticate("testuser", "foobar");
  assert.equal(principal?.segments.size, 2);
  assert.equal(acl.authenticate("testuser", "wrong"), null);
  assert.equal(acl.authenticate("nobody", "foobar"), null);
});

Deno.test("Acl.parse() errors name the file, the user key and the problem", () => {
  const cases: [unknown, RegExp][] = [
    [["x"], /^a\.yaml: top level: must be a mapping/],
    [{ u: "pw" }, /^a\.yaml: u: must be a mapping/],
    [{ u: { acl: {} } }, /^a\.yaml: u\.password: must be a string/],
    [{ u: { password: "p", acl: ["git"] } }, /^a\.yaml: u\.acl: must be a mapping/],
    [{ u: { password: "p", acl: { s: "git" } } }, /^a\.yaml: u\.acl\.s: must be a list of topics/],
    [{ u: { password: "p", topics: "svn" } }, /^a\.yaml: u\.topics: must be a list/],
  ];
  for (const [raw, pattern] of cases) {
    assert.throws(() => Acl.parse(raw, "a.yaml"), (err: Error) => {
      assert.ok(err instanceof ConfigError);
      assert.match(err.message, pattern);
      return true;
    });
  }
});

Deno.test("a private event reaches only subscribers whose segment it covers", async () => {
  const srv = await startServer({}, USERS);
  try {
    const alice = await StreamClient.open(`${srv.url}/git`, {
      headers: { Authorization: basic("alice", USERS.alice.password) },
    });
    const bob = await StreamClient.open(`${srv.url}/git`, {
      headers: { Authorization: basic("bob", "hunter2") },
    });
    const anonymous = await StreamClient.open(`${srv.url}/git`);
    const everything = await StreamClient.open(`${srv.url}/`);

    await publish(`${srv.url}/private/git/privaterepo.git/commit`, { n: 1 });
    await publish(`${srv.url}/git/public`, { n: 2 });
    const first = await alice.next();
    assert.equal(first.n, 1);
    assert.deepEqual(first.pubsub_topics, ["git", "privaterepo.git", "commit"]);
    assert.equal(first.pubsub_path, "/private/git/privaterepo.git/commit");
    assert.equal((await alice.next()).n, 2);
    for (const other of [bob, anonymous, everything]) assert.equal((await other.next()).n, 2);
    await Promise.all([alice, bob, anonymous, everything].map((s) => s.close()));
  } finally {
    await srv.close();
  }
});

Deno.test("a private event still needs the subscription's own topics", async () => {
  const srv = await startServer({}, USERS);
  try {
    const auth = { Authorization: basic("alice", USERS.alice.password) };
    const mail = await StreamClient.open(`${srv.url}/email`, { headers: auth });
    const wrongTopic = await StreamClient.open(`${srv.url}/svn`, { headers: auth });
    await publish(`${srv.url}/private/email/example.org/dev`, { n: 1 });
    await publish(`${srv.url}/private/email/example.org/users`, { n: 2 });
    assert.equal((await mail.next()).n, 1);
    await mail.expectSilence();
    await wrongTopic.expectSilence();
    await Promise.all([mail.close(), wrongTopic.close()]);
  } finally {
    await srv.close();
  }
});

Deno.test("wrong credentials answer 401 with WWW-Authenticate", async () => {
  const srv = await startServer({}, USERS);
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
        assert.equal((await res.text()).trimEnd().split("\n").length, 1);
      }
    }
  } finally {
    await srv.close();
  }
});

Deno.test("secure topics need a user granted every secure topic in the path", async () => {
  const srv = await startServer({
    clients: { payloaders: ["10.0.0.0/8"], secure_topics: ["svn", "infra"] },
  }, USERS);
  try {
    const sub = await StreamClient.open(`${srv.url}/`);
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
    await sub.close();
  } finally {
    await srv.close();
  }
});

Deno.test("an ACL reload revokes a removed user's private events on open streams", async () => {
  const srv = await startServer({}, USERS);
  try {
    const alice = await StreamClient.open(`${srv.url}/git`, {
      headers: { Authorization: basic("alice", USERS.alice.password) },
    });
    await publish(`${srv.url}/private/git/privaterepo.git`, { n: 1 });
    assert.equal((await alice.next()).n, 1);

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
    await alice.close();
  } finally {
    await srv.close();
  }
});
