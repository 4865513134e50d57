/**
 * LDAP logins end to end: HTTP requests to a real server that asks a real slapd.
 */

import assert from "node:assert/strict";
import { stringify } from "yaml";
import {
  basic,
  type ConfigPatch,
  engineTest,
  publish,
  StreamClient,
  testConfig,
  type TestServer,
} from "./helpers.ts";
import { GROUPS, PEOPLE, SUFFIX, USERS, withSlapd } from "./fixtures/slapd.ts";

const OPS_DN = `cn=ops,${GROUPS}`;

/** `clients.ldap` in PyPubSub's shape: ops members read ops and infra, evelyn reads secret. */
function ldapSection(uri: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    uri,
    user_dn: `uid=%s,${PEOPLE}`,
    base_scope: SUFFIX,
    membership_patterns: [`member=uid=%s,${PEOPLE}`],
    acl: {
      [OPS_DN]: { ops: ["ops"], infra: ["infra", "alerts"] },
      [`cn=staff,${GROUPS}`]: ["staff"],
      [USERS.evelyn.dn]: { secret: ["secret"] },
    },
    timeout: 2,
    ...extra,
  };
}

/** ACL-file users: carol is also in LDAP (with another password); deployer may publish. */
const FILE_USERS = {
  carol: { password: "file-pw", acl: { staff: ["staff"] } },
  deployer: { password: "deploy-pw", topics: ["deploy"] },
};

function patchFor(ldap: Record<string, unknown>): ConfigPatch {
  return { clients: { secure_topics: ["deploy"], ldap } };
}

function auth(user: { name: string; password: string }): { headers: Record<string, string> } {
  return { headers: { Authorization: basic(user.name, user.password) } };
}

async function status(url: string, user: string, password: string): Promise<Response> {
  const res = await fetch(url, { headers: { Authorization: basic(user, password) } });
  await res.body?.cancel();
  return res;
}

function binds(srv: TestServer): number {
  return srv.app.server.settings.ldap?.stats().binds ?? NaN;
}

engineTest("LDAP logins over HTTP: segments, refusals, cache, outage and reload", async (e) => {
  const t = e.test;
  await withSlapd(async (slapd) => {
    const srv = await e.start(patchFor(ldapSection(slapd.url)), FILE_USERS);
    const streams: StreamClient[] = [];
    const open = async (path: string, init = {}) => {
      const stream = await StreamClient.open(`${srv.url}${path}`, init);
      streams.push(stream);
      return stream;
    };
    try {
      await t.step("1,000 reconnects of one user within the TTL cost one LDAP bind", async () => {
        const before = binds(srv);
        for (let i = 0; i < 1000; i++) {
          const res = await status(`${srv.url}/ops`, USERS.alice.name, USERS.alice.password);
          assert.equal(res.status, 200);
        }
        assert.equal(binds(srv) - before, 1);
      });

      await t.step("a group member sees the mapped segment's private events", async () => {
        const alice = await open("/ops", auth(USERS.alice));
        const bob = await open("/ops", auth(USERS.bob));
        const anonymous = await open("/ops");
        assert.equal(await publish(`${srv.url}/private/ops/restart`, { n: 1 }), 202);
        assert.equal(await publish(`${srv.url}/ops/public`, { n: 2 }), 202);
        const first = await alice.next();
        assert.deepEqual([first.n, first.pubsub_path], [1, "/private/ops/restart"]);
        assert.equal((await alice.next()).n, 2);
        for (const other of [bob, anonymous]) assert.equal((await other.next()).n, 2);
      });

      await t.step("a * in a user name reads nobody else's segment", async () => {
        const evelyn = await open("/secret", auth(USERS.evelyn));
        const eveStar = await open("/secret", auth(USERS.eveStar));
        assert.equal(await publish(`${srv.url}/private/secret`, { n: 3 }), 202);
        assert.equal((await evelyn.next()).n, 3);
        await eveStar.expectSilence();
      });

      await t.step("wrong passwords, unknown users and injected names answer 401", async () => {
        const attempts: [string, string][] = [
          [USERS.alice.name, "wrong"],
          [USERS.alice.name, ""],
          ["nobody", "x"],
          ["*", USERS.alice.password],
          ["*)(uid=*", USERS.alice.password],
          ["alice)(uid=*", USERS.alice.password],
          ["x)(|(member=*", USERS.alice.password],
          ["admin,ou=x", USERS.admin.password],
        ];
        for (const [user, password] of attempts) {
          const res = await status(`${srv.url}/ops`, user, password);
          assert.equal(res.status, 401, `${user}:${password}`);
          assert.match(res.headers.get("www-authenticate") ?? "", /^Basic realm=/);
        }
      });

      await t.step(
        "the ACL file is asked first, and LDAP users publish no secure topic",
        async () => {
          assert.equal(
            (await status(`${srv.url}/staff`, "carol", USERS.carol.password)).status,
            401,
          );
          assert.equal((await status(`${srv.url}/staff`, "carol", "file-pw")).status, 200);
          const deploy = `${srv.url}/deploy/now`;
          assert.equal(await publish(deploy, {}, auth(USERS.alice)), 403);
          assert.equal(
            await publish(deploy, {}, auth({ name: "deployer", password: "deploy-pw" })),
            202,
          );
        },
      );

      await t.step(
        "with slapd stopped, a cached login works and a new one fails fast",
        async () => {
          const watcher = await open("/ops");
          await slapd.stop();
          assert.equal((await status(`${srv.url}/ops`, "alice", USERS.alice.password)).status, 200);
          const started = performance.now();
          const res = await fetch(`${srv.url}/ops`, { headers: auth(USERS.dana).headers });
          const ms = performance.now() - started;
          const body = await res.text();
          assert.equal(res.status, 503);
          assert.equal(body, "LDAP is unavailable; try again shortly\n");
          assert.equal(res.headers.get("retry-after"), "2");
          assert.equal(res.headers.get("content-type"), "text/plain; charset=utf-8");
          assert.ok(ms < 1000, `503 after ${Math.round(ms)} ms; the LDAP timeout is 2 s`);
          assert.equal(await publish(`${srv.url}/ops/still`, { n: 4 }), 202);
          assert.equal((await watcher.next()).n, 4, "everything else keeps working");
        },
      );

      await t.step("with slapd back, new logins work again", async () => {
        await slapd.start();
        const dana = await open("/ops", auth(USERS.dana));
        assert.equal(await publish(`${srv.url}/private/ops/back`, { n: 5 }), 202);
        assert.equal((await dana.next()).n, 5);
      });

      await t.step("an ACL reload clears the LDAP cache", async () => {
        const ldap = srv.app.server.settings.ldap;
        const before = binds(srv);
        assert.ok(await srv.app.reload("acl"));
        assert.equal(srv.app.server.settings.ldap, ldap, "same settings, same authenticator");
        assert.equal((await status(`${srv.url}/ops`, "alice", USERS.alice.password)).status, 200);
        assert.equal(binds(srv) - before, 1);
      });

      await t.step(
        "a reload that shrinks the LDAP acl stops delivery on open streams",
        async () => {
          const alice = await open("/infra", auth(USERS.alice));
          assert.equal(await publish(`${srv.url}/private/infra/alerts`, { n: 6 }), 202);
          assert.equal((await alice.next()).n, 6);
          const ldap = srv.app.server.settings.ldap;
          const shrunk = ldapSection(slapd.url);
          shrunk.acl = { [OPS_DN]: { ops: ["ops"] } };
          await writeConfig(srv, patchFor(shrunk));
          assert.ok(await srv.app.reload("all"));
          assert.notEqual(srv.app.server.settings.ldap, ldap, "new settings, new authenticator");
          assert.equal(await publish(`${srv.url}/private/infra/alerts`, { n: 7 }), 202);
          assert.equal(await publish(`${srv.url}/infra/alerts`, { n: 8 }), 202);
          assert.equal((await alice.next()).n, 8, "withheld without a reconnect");
        },
      );

      await t.step("a bad clients.ldap is refused on reload; LDAP keeps working", async () => {
        await writeConfig(srv, patchFor(ldapSection("http://127.0.0.1:1")));
        assert.equal(await srv.app.reload("all"), false);
        assert.equal((await status(`${srv.url}/ops`, "carol", USERS.carol.password)).status, 401);
        assert.equal((await status(`${srv.url}/ops`, "alice", USERS.alice.password)).status, 200);
      });
    } finally {
      await Promise.all(streams.map((s) => s.close()));
      await srv.close();
    }
  });
});

engineTest("LDAP logins over ldaps:// verify the configured CA", async (t) => {
  await withSlapd(async (slapd) => {
    const ldaps = (ca: string) => patchFor(ldapSection(slapd.ldapsUrl, { ca_file: ca }));
    const srv = await t.start(ldaps(slapd.caFile), FILE_USERS);
    try {
      {
        await using alice = await StreamClient.open(`${srv.url}/ops`, auth(USERS.alice));
        assert.equal(await publish(`${srv.url}/private/ops/tls`, { n: 1 }), 202);
        assert.equal((await alice.next()).n, 1);
      }

      await writeConfig(srv, ldaps(slapd.otherCaFile));
      assert.ok(await srv.app.reload("all"));
      const res = await status(`${srv.url}/ops`, USERS.alice.name, USERS.alice.password);
      assert.equal(res.status, 503, "a server certificate from another CA is not trusted");
    } finally {
      await srv.close();
    }
  });
});

async function writeConfig(srv: TestServer, patch: ConfigPatch): Promise<void> {
  await Deno.writeTextFile(srv.files.config, stringify(testConfig(patch)));
}
