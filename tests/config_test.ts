import assert from "node:assert/strict";
import { parse } from "yaml";
import { loadConfig, parseConfig } from "../lib/config.ts";
import { ConfigError, parseDuration } from "../lib/section.ts";
import { captureWarnings } from "./helpers.ts";
import { allowed } from "../lib/auth/net.ts";

// PyPubSub 0.7's own sample pypubsub.yaml, as shipped.
const PYPUBSUB_SAMPLE = `
server:
  port: 2069
  bind: 0.0.0.0
  max_payload_size:          102400   # Max size of each JSON payload
  backlog:
    size:           0   # Max number of payloads to keep in backlog cache (set to 0 to disable)
    max_age:      48h   # Maximum age of a backlog item before culling it
clients:
  payloaders:
    - 127.0.0.1/24
    - 10.0.0.1/24
  oldschoolers:
    - svnwcsub
  secure_topics: ~
`;

Deno.test("parseConfig() loads PyPubSub's sample config unchanged", () => {
  const warnings = captureWarnings(() => {
    const config = parseConfig(parse(PYPUBSUB_SAMPLE), "pypubsub.yaml");
    assert.equal(config.server.port, 2069);
    assert.equal(config.server.bind, "0.0.0.0");
    assert.equal(config.server.maxPayloadSize, 102400);
    assert.equal(config.server.backlog.size, 0);
    assert.equal(config.server.backlog.maxAge, 48 * 3600);
    assert.equal(config.server.tls, null);
    assert.ok(allowed(config.clients.payloaders, "10.0.0.77"));
    assert.deepEqual(config.clients.oldschoolers, ["svnwcsub"]);
    assert.equal(config.clients.secureTopics.size, 0);
    assert.ok(Object.isFrozen(config.server));
  });
  assert.deepEqual(warnings, []);
});

Deno.test("parseConfig() loads the shipped pubsub.yaml", async () => {
  const config = await loadConfig(new URL("../pubsub.yaml", import.meta.url).pathname);
  assert.equal(config.server.port, 2069);
  assert.ok(allowed(config.clients.payloaders, "127.0.0.1"));
  assert.ok(allowed(config.clients.payloaders, "::1"));
});

Deno.test("parseConfig() validates PyPubSub's clients.ldap shape at load", () => {
  const raw = parse(PYPUBSUB_SAMPLE);
  raw.clients.ldap = {
    uri: "ldaps://ldap.example.org",
    user_dn: "uid=%s,ou=people,dc=example,dc=org",
    base_scope: "dc=example,dc=org",
    membership_patterns: [{ "member=uid=%s,ou=people,dc=example,dc=org": null }, "uid=%s"],
    acl: { "cn=syadmins,ou=teams,dc=example,dc=org": ["accounts", "restricted"] },
  };
  const warnings = captureWarnings(() => {
    const ldap = parseConfig(raw, "pypubsub.yaml").clients.ldap;
    assert.deepEqual(ldap?.uris, ["ldaps://ldap.example.org"]);
    assert.equal(ldap?.cacheTtlMs, 60_000);
  });
  assert.deepEqual(warnings, []);
  assert.equal(parseConfig({ server: {} }, "f.yaml").clients.ldap, null);
});

Deno.test("parseConfig() applies defaults for missing keys", () => {
  const config = parseConfig({ server: {} }, "f.yaml");
  assert.equal(config.server.port, 2069);
  assert.equal(config.server.keepalive, 5);
  assert.equal(config.server.engine, "deno");
  assert.deepEqual(config.clients.payloaders, []);
});

Deno.test("parseConfig() errors name the file, the key and the problem", () => {
  const cases: [unknown, RegExp][] = [
    [{}, /^f\.yaml: server: is missing/],
    [{ server: [] }, /^f\.yaml: server: must be a mapping/],
    [{ server: { port: 70000 } }, /^f\.yaml: server\.port: must be between 0 and 65535, got 70000/],
    [{ server: { port: "http" } }, /^f\.yaml: server\.port: must be a whole number/],
    [{ server: { max_payload_size: 1.5 } }, /server\.max_payload_size: must be a whole number/],
    [{ server: { backlog: { max_age: "2 weeks" } } }, /server\.backlog\.max_age: "2 weeks" is not/],
    [{ server: { backlog: { size: -1 } } }, /server\.backlog\.size: must be between 0/],
    [{ server: { backlog: { sync: "yes" } } }, /server\.backlog\.sync: must be true or false/],
    [{ server: { engine: "bun" } }, /server\.engine: must be one of deno, node, got "bun"/],
    [{ server: {}, clients: { payloaders: "127.0.0.1" } }, /clients\.payloaders: must be a list/],
    [
      { server: {}, clients: { payloaders: ["10.0.0.0/40"] } },
      /clients\.payloaders\[0\]: "10\.0\.0\.0\/40" has a bad prefix/,
    ],
    [{ server: { tls: { cert: "c", key: "k" } } }, /server\.tls\.port: is required/],
    [
      { server: { tls: { port: 1, cert: "/nonexistent.pem", key: "k" } } },
      /server\.tls\.cert: cannot read "\/nonexistent\.pem"/,
    ],
    [{ server: {}, clients: { ldap: ["x"] } }, /^f\.yaml: clients\.ldap: must be a mapping/],
    [
      { server: {}, clients: { ldap: { uri: "http://ldap", user_dn: "uid=%s" } } },
      /^f\.yaml: clients\.ldap\.uri: must be an ldap:\/\/ or ldaps:\/\/ URL/,
    ],
  ];
  for (const [raw, pattern] of cases) {
    assert.throws(() => parseConfig(raw, "f.yaml"), (err: Error) => {
      assert.ok(err instanceof ConfigError);
      assert.match(err.message, pattern);
      return true;
    });
  }
});

Deno.test("parseConfig() warns about unknown keys without failing", () => {
  const warnings = captureWarnings(() => {
    parseConfig({ server: { prot: 1, backlog: { sizee: 1 } }, extra: {} }, "f.yaml");
  });
  assert.equal(warnings.length, 3);
  assert.match(warnings.join("\n"), /server\.prot/);
  assert.match(warnings.join("\n"), /server\.backlog\.sizee/);
});

Deno.test("loadConfig() names a missing file and bad YAML", async () => {
  await assert.rejects(
    loadConfig("/nonexistent/pubsub.yaml"),
    /nonexistent\/pubsub\.yaml: cannot read: file not found/,
  );
  const file = await Deno.makeTempFile({ suffix: ".yaml" });
  await Deno.writeTextFile(file, "server: [unclosed");
  await assert.rejects(loadConfig(file), /not valid YAML/);
  await Deno.remove(file);
});

Deno.test("parseDuration() accepts seconds and s/m/h/d units", () => {
  assert.equal(parseDuration(45), 45);
  assert.equal(parseDuration("45s"), 45);
  assert.equal(parseDuration("30m"), 1800);
  assert.equal(parseDuration("12h"), 43200);
  assert.equal(parseDuration("7d"), 604800);
  assert.equal(parseDuration("7D"), 604800);
  assert.equal(parseDuration("0"), 0);
  assert.equal(parseDuration("-5"), null);
  assert.equal(parseDuration("5w"), null);
  assert.equal(parseDuration(true), null);
});

Deno.test("parseConfig() reads server.cors and refuses a malformed origin", () => {
  const cors = parseConfig({ server: { cors: { origins: ["https://a.example:8443"] } } }, "f.yaml")
    .server.cors;
  assert.deepEqual([...cors!.origins], ["https://a.example:8443"]);
  assert.equal(parseConfig({ server: {} }, "f.yaml").server.cors, null);
  assert.throws(
    () => parseConfig({ server: { cors: { origins: ["a.example/"] } } }, "f.yaml"),
    /f\.yaml: server\.cors\.origins\[0\]: "a\.example\/" is not an origin/,
  );
});

Deno.test("parseConfig() reads server.websocket.ping, 30 s by default, and refuses 0", () => {
  assert.equal(parseConfig({ server: {} }, "f.yaml").server.websocket.ping, 30);
  const ping = parseConfig({ server: { websocket: { ping: "2m" } } }, "f.yaml").server.websocket;
  assert.equal(ping.ping, 120);
  assert.throws(
    () => parseConfig({ server: { websocket: { ping: 0 } } }, "f.yaml"),
    /f\.yaml: server\.websocket\.ping: must be more than 0 seconds/,
  );
  assert.throws(
    () => parseConfig({ server: { websocket: { ping: "soon" } } }, "f.yaml"),
    /f\.yaml: server\.websocket\.ping: "soon" is not a duration/,
  );
});
