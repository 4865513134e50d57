import assert from "node:assert/strict";
import { parse } from "yaml";
import { parseLdapConfig } from "../lib/auth/ldap_config.ts";

/** PyPubSub's sample `clients.ldap` block, uncommented, exactly as it ships. */
const PYPUBSUB_SAMPLE = `
clients:
  ldap:
    uri: ldaps://ldap.example.org
    user_dn: uid=%s,ou=people,dc=example,dc=org
    base_scope: dc=example,dc=org
    membership_patterns:
      - member=uid=%s,ou=people,dc=example,dc=org:
      - uid=%s
    acl:
      "cn=syadmins,ou=teams,dc=example,dc=org":
          - accounts
          - restricted
      uid=janedoe,ou=people,dc=example,dc=org:
        - accounts
        - contracts
        - hr
`;

const BASE = {
  uri: "ldap://127.0.0.1:389",
  user_dn: "uid=%s,ou=people,dc=example,dc=org",
  base_scope: "dc=example,dc=org",
  membership_patterns: ["uid=%s"],
  acl: { "cn=ops,ou=groups,dc=example,dc=org": { ops: ["ops"] } },
};

function problem(change: Record<string, unknown>): string {
  try {
    parseLdapConfig({ ...BASE, ...change }, "pubsub.yaml");
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error(`accepted ${JSON.stringify(change)}`);
}

Deno.test("parseLdapConfig() loads PyPubSub's sample unchanged", () => {
  const config = parseLdapConfig(parse(PYPUBSUB_SAMPLE).clients.ldap, "pubsub.yaml");
  assert.deepEqual(config.uris, ["ldaps://ldap.example.org"]);
  assert.equal(config.userDn, "uid=%s,ou=people,dc=example,dc=org");
  assert.equal(config.baseScope, "dc=example,dc=org");
  assert.deepEqual(config.membershipPatterns, [
    "member=uid=%s,ou=people,dc=example,dc=org",
    "uid=%s",
  ]);
  assert.deepEqual(config.acl, [
    {
      dn: "cn=syadmins,ou=teams,dc=example,dc=org",
      key: "cn=syadmins,ou=teams,dc=example,dc=org",
      segments: { "cn=syadmins,ou=teams,dc=example,dc=org": ["accounts", "restricted"] },
    },
    {
      dn: "uid=janedoe,ou=people,dc=example,dc=org",
      key: "uid=janedoe,ou=people,dc=example,dc=org",
      segments: { "uid=janedoe,ou=people,dc=example,dc=org": ["accounts", "contracts", "hr"] },
    },
  ]);
  assert.ok(Object.isFrozen(config));
});

Deno.test("parseLdapConfig() takes named segments, as PyPubSub's code expects", () => {
  const config = parseLdapConfig({
    ...BASE,
    acl: { "CN=Ops, OU=Groups,dc=example,dc=org": { ops: ["ops"], all: [] } },
  }, "pubsub.yaml");
  assert.deepEqual(config.acl[0]?.segments, { ops: ["ops"], all: [] });
  assert.equal(config.acl[0]?.key, "cn=ops,ou=groups,dc=example,dc=org");
});

Deno.test("parseLdapConfig() fills defaults for the new keys", () => {
  const config = parseLdapConfig(BASE, "pubsub.yaml");
  assert.equal(config.timeoutMs, 3000);
  assert.equal(config.cacheTtlMs, 60_000);
  assert.equal(config.failureTtlMs, 2000);
  assert.equal(config.starttls, false);
  assert.equal(config.ca, undefined);
});

Deno.test("parseLdapConfig() reads several URIs separated by spaces or as a list", () => {
  const a = parseLdapConfig({ ...BASE, uri: "ldap://a.example ldaps://b.example:636" }, "f");
  assert.deepEqual(a.uris, ["ldap://a.example", "ldaps://b.example:636"]);
  const b = parseLdapConfig({ ...BASE, uri: ["ldap://a.example/", "ldap://[::1]:389"] }, "f");
  assert.deepEqual(b.uris, ["ldap://a.example", "ldap://[::1]:389"]);
});

Deno.test("parseLdapConfig() reads the CA file for ldaps:// and StartTLS", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
    await Deno.writeTextFile(`${dir}/ca.pem`, pem);
    const tls = { uri: "ldaps://ldap.example.org", ca_file: `${dir}/ca.pem` };
    assert.equal(parseLdapConfig({ ...BASE, ...tls }, "f").ca, pem);
    const starttls = { ca_file: `${dir}/ca.pem`, starttls: true };
    assert.equal(parseLdapConfig({ ...BASE, ...starttls }, "f").starttls, true);
    await Deno.writeTextFile(`${dir}/empty.pem`, "");
    assert.equal(
      problem({ ...tls, ca_file: `${dir}/empty.pem` }),
      `pubsub.yaml: clients.ldap.ca_file: "${dir}/empty.pem" holds no PEM certificate`,
    );
    assert.equal(
      problem({ ca_file: `${dir}/ca.pem` }),
      "pubsub.yaml: clients.ldap.ca_file: is used only with ldaps:// or starttls: true",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("parseLdapConfig() names the file, key and problem of a bad setting", () => {
  const cases: [Record<string, unknown>, string][] = [
    [
      { uri: "http://x" },
      'clients.ldap.uri: must be an ldap:// or ldaps:// URL, got string "http://x"',
    ],
    [{ uri: undefined }, "clients.ldap.uri: must be an ldap:// or ldaps:// URL, got nothing"],
    [{ user_dn: "ou=people,dc=example,dc=org" }, "clients.ldap.user_dn: must contain %s"],
    [{ user_dn: "uid=%d,dc=x" }, 'clients.ldap.user_dn: unsupported "%" sequence'],
    [{ base_scope: "" }, "clients.ldap.base_scope: must be a non-empty string"],
    [{ membership_patterns: "uid=%s" }, "clients.ldap.membership_patterns: must be a list"],
    [{ membership_patterns: ["uid=x"] }, "clients.ldap.membership_patterns[0]: must contain %s"],
    [
      { membership_patterns: ["uid=%s", "uid=%s)(cn=x"] },
      "clients.ldap.membership_patterns[1]: is not a valid LDAP filter",
    ],
    [{ acl: ["cn=x"] }, "clients.ldap.acl: must be a mapping of group or user DNs to topics"],
    [{ acl: { "cn=x,dc=y": "ops" } }, 'clients.ldap.acl["cn=x,dc=y"]: must be a list of topics'],
    [{ acl: { "cn=x,dc=y": { ops: "ops" } } }, 'clients.ldap.acl["cn=x,dc=y"].ops: must be a list'],
    [{ acl: { "cn=x,dc=y": [2024] } }, 'clients.ldap.acl["cn=x,dc=y"][0]: must be a topic'],
    [{ acl: { "ops": ["ops"] } }, 'clients.ldap.acl["ops"]: the key must be a DN'],
    [
      { acl: { "cn=x,dc=y": ["a"], "CN=X, DC=Y": ["b"] } },
      'clients.ldap.acl["CN=X, DC=Y"]: names the same DN as "cn=x,dc=y"',
    ],
    [{ timeout: 0 }, "clients.ldap.timeout: must be a number of seconds more than 0 to 60"],
    [
      { timeout: "5s" },
      'clients.ldap.timeout: must be a number of seconds more than 0 to 60, got string "5s"',
    ],
    [{ cache_ttl: -1 }, "clients.ldap.cache_ttl: must be a number of seconds from 0 to 86400"],
    [{ failure_ttl: 30 }, "clients.ldap.failure_ttl: must be a number of seconds from 0 to 10"],
    [{ starttls: "yes" }, 'clients.ldap.starttls: must be true or false, got string "yes"'],
    [
      { uri: "ldaps://x", starttls: true },
      "clients.ldap.starttls: cannot be used with an ldaps:// URL",
    ],
    [{ ca_file: "/nonexistent/ca.pem" }, 'clients.ldap.ca_file: cannot read "/nonexistent/ca.pem"'],
    [{ cache_tll: 5 }, "clients.ldap.cache_tll: unknown key (known: uri, user_dn,"],
  ];
  for (const [change, expected] of cases) {
    const message = problem(change);
    assert.ok(message.startsWith(`pubsub.yaml: ${expected}`), `${message}\n  expected ${expected}`);
    assert.ok(!message.includes("\n"), message);
  }
});

Deno.test("parseLdapConfig() refuses a section that is not a mapping", () => {
  assert.throws(
    () => parseLdapConfig("ldap://x", "pubsub.yaml"),
    { message: 'pubsub.yaml: clients.ldap: must be a mapping, got string "ldap://x"' },
  );
});

Deno.test("parseLdapConfig() allows no membership patterns (own DN only)", () => {
  const config = parseLdapConfig({ ...BASE, membership_patterns: null }, "pubsub.yaml");
  assert.deepEqual(config.membershipPatterns, []);
});
