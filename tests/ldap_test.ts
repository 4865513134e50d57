import assert from "node:assert/strict";
import { parse } from "yaml";
import { LdapAuthenticator, type LdapAuthResult, parseLdapConfig } from "../lib/auth/ldap.ts";
import { log } from "../lib/log.ts";
import { captureWarnings } from "./helpers.ts";
import { GROUPS, PEOPLE, SUFFIX, USERS, withSlapd } from "./fixtures/slapd.ts";

const OPS = { ops: ["ops"], infra: ["infra", "alerts"] };
const STAFF_DN = `cn=staff,${GROUPS}`;

/** PyPubSub's sample shape, stray colon included, plus the new keys in `extra`. */
function authenticator(
  uri: string,
  extra: Record<string, unknown> = {},
  clock: () => number = Date.now,
): LdapAuthenticator {
  const text = `
uri: ${uri}
user_dn: uid=%s,${PEOPLE}
base_scope: ${SUFFIX}
membership_patterns:
  - member=uid=%s,${PEOPLE}:
  - uid=%s
acl:
  "cn=ops,${GROUPS}":
    ops: [ops]
    infra: [infra, alerts]
  "${STAFF_DN}":
    - staff
  "${USERS.evelyn.dn}":
    secret: [secret]
  "${USERS.admin.dn}":
    admin: [admin]
`;
  const raw = { ...parse(text), timeout: 2, ...extra };
  return new LdapAuthenticator(parseLdapConfig(raw, "pubsub.yaml"), clock);
}

function segmentsOf(result: LdapAuthResult): unknown {
  assert.equal(result.status, "ok", JSON.stringify(result));
  return result.status === "ok" ? result.segments : undefined;
}

async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const start = performance.now();
  const value = await fn();
  return [value, performance.now() - start];
}

Deno.test("LdapAuthenticator.authenticate() maps groups to segments and refuses bad logins", async (t) => {
  await withSlapd(async (slapd) => {
    const ldap = authenticator(slapd.url);
    try {
      await t.step(
        "a group member gets the segments of every group, list and mapping shapes",
        async () => {
          const result = await ldap.authenticate(USERS.alice.name, USERS.alice.password);
          assert.deepEqual(segmentsOf(result), { ...OPS, [STAFF_DN]: ["staff"] });
          assert.equal(result.status === "ok" && result.dn, USERS.alice.dn);
        },
      );

      await t.step("a user in no configured group gets no segments", async () => {
        assert.deepEqual(segmentsOf(await ldap.authenticate("bob", USERS.bob.password)), {});
      });

      await t.step("the user's own DN in the acl grants its segments", async () => {
        const result = await ldap.authenticate("evelyn", USERS.evelyn.password);
        assert.deepEqual(segmentsOf(result), { secret: ["secret"] });
      });

      await t.step("a wrong password is refused", async () => {
        const result = await ldap.authenticate("alice", "not-the-password");
        assert.deepEqual(result, {
          status: "denied",
          reason: "invalid credentials",
          cached: false,
        });
      });

      await t.step("an unknown user is refused", async () => {
        assert.equal((await ldap.authenticate("nobody", "x")).status, "denied");
      });

      await t.step("an empty password is refused without a bind", async () => {
        const before = ldap.stats().binds;
        const result = await ldap.authenticate("alice", "");
        assert.deepEqual(result, { status: "denied", reason: "empty password", cached: false });
        assert.equal(ldap.stats().binds, before);
      });

      await t.step("injection attempts in the user name gain nothing", async () => {
        for (
          const [name, password] of [
            ["*", USERS.alice.password],
            ["*)(uid=*", USERS.alice.password],
            ["alice)(uid=*", USERS.alice.password],
            ["x)(|(member=*", USERS.alice.password],
            ["admin,ou=x", USERS.admin.password],
            ["alice\0", USERS.alice.password],
          ]
        ) {
          const result = await ldap.authenticate(name as string, password as string);
          assert.equal(result.status, "denied", `${name}: ${JSON.stringify(result)}`);
        }
      });

      await t.step("a * in a real user name matches only that user in the filters", async () => {
        // Unescaped, (uid=eve*) would also find evelyn and grant her segment.
        const result = await ldap.authenticate(USERS.eveStar.name, USERS.eveStar.password);
        assert.deepEqual(segmentsOf(result), {});
      });

      await t.step(
        "a comma in a user name stays inside the bind DN and the member filter",
        async () => {
          const result = await ldap.authenticate(USERS.dana.name, USERS.dana.password);
          assert.deepEqual(segmentsOf(result), OPS);
        },
      );
    } finally {
      await ldap.close();
    }
  });
});

Deno.test("LdapAuthenticator caches lookups and fails fast while LDAP is down", async (t) => {
  await withSlapd(async (slapd) => {
    let now = 1_000_000;
    const ldap = authenticator(slapd.url, { cache_ttl: 60, failure_ttl: 2 }, () => now);
    try {
      await t.step(
        "1,000 concurrent and 1,000 sequential logins of one user cost one bind",
        async () => {
          const burst = await Promise.all(
            Array.from({ length: 1000 }, () => ldap.authenticate("alice", USERS.alice.password)),
          );
          assert.ok(burst.every((r) => r.status === "ok"));
          for (let i = 0; i < 1000; i++) {
            const result = await ldap.authenticate("alice", USERS.alice.password);
            assert.equal(result.status === "ok" && result.cached, true);
          }
          const stats = ldap.stats();
          log.info("measured: LDAP binds for 2,000 logins of one user", { binds: stats.binds });
          assert.deepEqual(stats, { binds: 1, cacheHits: 1999, cacheMisses: 1, unavailable: 0 });
        },
      );

      await t.step("a login is reused for cache_ttl, then looked up again", async () => {
        const before = ldap.stats().binds;
        now += 59_999;
        const cached = await ldap.authenticate("alice", USERS.alice.password);
        assert.equal(cached.status === "ok" && cached.cached, true);
        now += 1;
        const fresh = await ldap.authenticate("alice", USERS.alice.password);
        assert.equal(fresh.status === "ok" && fresh.cached, false);
        assert.equal(ldap.stats().binds, before + 1);
      });

      await t.step("a wrong password is remembered for failure_ttl only", async () => {
        const before = ldap.stats().binds;
        assert.equal((await ldap.authenticate("alice", "wrong")).status, "denied");
        now += 1_999;
        const again = await ldap.authenticate("alice", "wrong");
        assert.deepEqual(again, { status: "denied", reason: "invalid credentials", cached: true });
        assert.equal(ldap.stats().binds, before + 1);
        now += 1;
        assert.equal((await ldap.authenticate("alice", "wrong")).status, "denied");
        assert.equal(ldap.stats().binds, before + 2);
      });

      await t.step("the cache is keyed on the password too", async () => {
        const before = ldap.stats().binds;
        assert.equal((await ldap.authenticate("alice", "wrong-2")).status, "denied");
        assert.equal(ldap.stats().binds, before + 1);
      });

      await t.step("a cached login survives a slapd stop; a new login fails fast", async () => {
        await slapd.stop();
        const cached = await ldap.authenticate("alice", USERS.alice.password);
        assert.equal(cached.status === "ok" && cached.cached, true);
        const [fresh, ms] = await timed(() => ldap.authenticate("bob", USERS.bob.password));
        log.info("measured: new LDAP login with slapd stopped", { ms: Math.round(ms) });
        assert.equal(fresh.status, "unavailable");
        assert.ok(ms < 500, `took ${ms} ms, timeout is 2000 ms`);
      });

      await t.step("an unavailable answer is not cached", async () => {
        const before = ldap.stats().cacheMisses;
        assert.equal((await ldap.authenticate("bob", USERS.bob.password)).status, "unavailable");
        assert.equal(ldap.stats().cacheMisses, before + 1);
        assert.equal(ldap.stats().unavailable, 2);
      });

      await t.step("when slapd is back, new logins work again by themselves", async () => {
        await slapd.start();
        assert.deepEqual(segmentsOf(await ldap.authenticate("bob", USERS.bob.password)), {});
      });

      await t.step("clearCache() makes the next login bind again", async () => {
        const before = ldap.stats().binds;
        ldap.clearCache();
        const result = await ldap.authenticate("alice", USERS.alice.password);
        assert.equal(result.status === "ok" && result.cached, false);
        assert.equal(ldap.stats().binds, before + 1);
      });
    } finally {
      await ldap.close();
    }
  });
});

Deno.test("LdapAuthenticator gives up on a hung slapd after its timeout", async () => {
  await withSlapd(async (slapd) => {
    const ldap = authenticator(slapd.url, { timeout: 0.5 });
    try {
      assert.equal((await ldap.authenticate("alice", USERS.alice.password)).status, "ok");
      slapd.suspend();
      const cached = await ldap.authenticate("alice", USERS.alice.password);
      assert.equal(cached.status, "ok");
      const [fresh, ms] = await timed(() => ldap.authenticate("carol", USERS.carol.password));
      log.info("measured: new LDAP login with slapd hung", { ms: Math.round(ms) });
      assert.equal(fresh.status, "unavailable");
      assert.ok(ms >= 450 && ms < 1500, `took ${ms} ms, timeout is 500 ms`);
      slapd.resume();
      assert.deepEqual(segmentsOf(await ldap.authenticate("carol", USERS.carol.password)), {
        [STAFF_DN]: ["staff"],
      });
    } finally {
      slapd.resume();
      await ldap.close();
    }
  });
});

Deno.test("LdapAuthenticator speaks ldaps:// and StartTLS, verifying the CA", async (t) => {
  await withSlapd(async (slapd) => {
    const cases = [
      { name: "ldaps:// with the test CA logs in", uri: slapd.ldapsUrl, ca: slapd.caFile },
      { name: "StartTLS with the test CA logs in", uri: slapd.url, ca: slapd.caFile, tls: true },
      {
        name: "ldaps:// with another CA is unavailable",
        uri: slapd.ldapsUrl,
        ca: slapd.otherCaFile,
      },
      {
        name: "StartTLS with another CA is unavailable",
        uri: slapd.url,
        ca: slapd.otherCaFile,
        tls: true,
      },
    ];
    for (const { name, uri, ca, tls } of cases) {
      await t.step(name, async () => {
        const ldap = authenticator(uri, { ca_file: ca, starttls: tls ?? false });
        const expected = ca === slapd.caFile ? "ok" : "unavailable";
        try {
          const result = await ldap.authenticate("alice", USERS.alice.password);
          assert.equal(result.status, expected, JSON.stringify(result));
        } finally {
          await ldap.close();
        }
      });
    }
  });
});

Deno.test("LdapAuthenticator moves on from a hung and a refused URI to one that works", async () => {
  await withSlapd(async (slapd) => {
    // A listener that is never accepted from: the kernel completes the connection, no one answers.
    const hung = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const closed = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (l: Deno.Listener) => (l.addr as Deno.NetAddr).port;
    const uris = `ldap://127.0.0.1:${port(hung)} ldap://127.0.0.1:${port(closed)} ${slapd.url}`;
    closed.close();
    const ldap = authenticator(uris, { timeout: 1.5 });
    try {
      const [result, ms] = await timed(() => ldap.authenticate("bob", USERS.bob.password));
      assert.equal(result.status, "ok", JSON.stringify(result));
      assert.ok(ms >= 450 && ms < 1500, `took ${ms} ms`);
    } finally {
      await ldap.close();
      hung.close();
    }
  });
});

Deno.test("LdapAuthenticator warns about a plain ldap:// URL off loopback, and only then", () => {
  const warned = (uri: string, extra: Record<string, unknown> = {}) =>
    captureWarnings(() => {
      new LdapAuthenticator(parseLdapConfig({
        uri,
        user_dn: `uid=%s,${PEOPLE}`,
        base_scope: SUFFIX,
        acl: { [STAFF_DN]: ["staff"] },
        ...extra,
      }, "pubsub.yaml"));
    });
  const cleartext = /WARN .*LDAP passwords are sent unencrypted; use ldaps:\/\/ or starttls: true/;
  for (const uri of ["ldap://ldap.example.org", "ldap://10.1.2.3:389", "ldap://[2001:db8::1]"]) {
    const lines = warned(uri);
    assert.equal(lines.length, 1, `${uri}: ${lines}`);
    assert.match(lines[0]!, cleartext);
    assert.match(lines[0]!, new RegExp(`uri="${uri.replace(/[[\]./]/g, "\\$&")}"`));
  }
  const mixed = warned("ldaps://a.example.org ldap://b.example.org");
  assert.equal(mixed.length, 1);
  assert.match(mixed[0]!, /uri="ldap:\/\/b\.example\.org"/);
  for (const uri of ["ldap://127.0.0.1:389", "ldap://localhost", "ldap://[::1]:389"]) {
    assert.deepEqual(warned(uri), [], uri);
  }
  assert.deepEqual(warned("ldaps://ldap.example.org"), []);
  assert.deepEqual(warned("ldap://ldap.example.org", { starttls: true }), []);
});

Deno.test("LdapAuthenticator.close() refuses later logins", async () => {
  const ldap = authenticator("ldap://127.0.0.1:9");
  await ldap.close();
  const result = await ldap.authenticate("alice", "pw");
  assert.equal(result.status, "unavailable");
  assert.equal(ldap.stats().binds, 0);
});
