/**
 * The client address behind trusted proxies (`server.trusted_proxies`): the rules of
 * `X-Forwarded-For` and `Forwarded`, and, over both engines, that `clients.payloaders` and
 * the per-client limits see the forwarded client while a header from elsewhere is ignored.
 */

import assert from "node:assert/strict";
import { loadConfig, parseConfig } from "../lib/config.ts";
import { parseAddress, parseCidr } from "../lib/auth/net.ts";
import {
  ClientAddresses,
  formatAddress,
  forwardedFor,
  type ProxyHeader,
  UNKNOWN_CLIENT,
} from "../lib/auth/proxies.ts";
import { engineTest, StreamClient } from "./helpers.ts";

function clients(trusted: string[], header: ProxyHeader = "x-forwarded-for") {
  const resolver = new ClientAddresses({ trusted: trusted.map(parseCidr), header });
  return (peer: string, headers: Record<string, string> = {}) =>
    resolver.clientOf(peer, { header: (name) => headers[name] ?? null });
}

Deno.test("ClientAddresses.clientOf() believes forwarding headers only from trusted peers", () => {
  const clientOf = clients(["127.0.0.1/32", "10.0.0.0/8"]);
  const xff = (value: string) => ({ "x-forwarded-for": value });
  assert.equal(clientOf("192.0.2.7", xff("203.0.113.1")), "192.0.2.7");
  assert.equal(clientOf("127.0.0.1"), "127.0.0.1");
  assert.equal(clientOf("127.0.0.1", xff("203.0.113.1")), "203.0.113.1");
  // Each trusted proxy appends the address it saw: only the right-most untrusted one counts.
  assert.equal(clientOf("127.0.0.1", xff("198.51.100.9, 203.0.113.1, 10.1.2.3")), "203.0.113.1");
  assert.equal(clientOf("127.0.0.1", xff("10.9.9.9,10.1.2.3")), "10.9.9.9");
  assert.equal(clientOf("::ffff:127.0.0.1", xff("203.0.113.1:5000")), "203.0.113.1");
  assert.equal(clientOf("127.0.0.1", xff("[2001:DB8:0::1]:443")), "2001:db8::1");
  assert.equal(clientOf("127.0.0.1", xff("203.0.113.1, not-an-address")), UNKNOWN_CLIENT);
  assert.equal(clients([])("127.0.0.1", xff("203.0.113.1")), "127.0.0.1");
});

Deno.test("ClientAddresses.clientOf() reads Forwarded: for= with server.proxy_header: forwarded", () => {
  const clientOf = clients(["127.0.0.1/32"], "forwarded");
  const fwd = (value: string) => ({ forwarded: value, "x-forwarded-for": "192.0.2.66" });
  assert.equal(
    clientOf("127.0.0.1", fwd('for=192.0.2.43, for="[2001:db8:cafe::17]:4711";proto=https')),
    "2001:db8:cafe::17",
  );
  assert.equal(clientOf("127.0.0.1", fwd("for=192.0.2.43;by=127.0.0.1")), "192.0.2.43");
  assert.equal(clientOf("127.0.0.1", fwd("for=unknown")), UNKNOWN_CLIENT);
  assert.equal(clientOf("127.0.0.1", fwd("proto=http")), UNKNOWN_CLIENT);
  assert.deepEqual(forwardedFor('For="_hidden", for=1.2.3.4'), ["_hidden", "1.2.3.4"]);
});

Deno.test("formatAddress() writes IPv6 in its short form and mapped IPv4 as IPv4", () => {
  const cases: [string, string][] = [
    ["2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1"],
    ["0:0:0:0:0:0:0:1", "::1"],
    ["::", "::"],
    ["1:0:0:2:0:0:0:3", "1:0:0:2::3"],
    ["1:0:2:3:4:5:6:7", "1:0:2:3:4:5:6:7"],
    ["::ffff:192.0.2.9", "192.0.2.9"],
  ];
  for (const [text, short] of cases) assert.equal(formatAddress(parseAddress(text)!), short, text);
});

Deno.test("parseConfig() reads server.trusted_proxies and server.proxy_header", async () => {
  const none = parseConfig({ server: {} }, "f.yaml").server.proxies;
  assert.deepEqual(none, { trusted: [], header: "x-forwarded-for" });
  const set = parseConfig(
    { server: { trusted_proxies: ["10.0.0.0/8"], proxy_header: "Forwarded" } },
    "f.yaml",
  ).server.proxies;
  assert.deepEqual(set.trusted.map((b) => b.text), ["10.0.0.0/8"]);
  assert.equal(set.header, "forwarded");
  assert.throws(
    () => parseConfig({ server: { trusted_proxies: ["10.0.0.300/8"] } }, "f.yaml"),
    /^ConfigError: f\.yaml: server\.trusted_proxies\[0\]: "10\.0\.0\.300\/8" is not/,
  );
  assert.throws(
    () => parseConfig({ server: { proxy_header: "x-real-ip" } }, "f.yaml"),
    /f\.yaml: server\.proxy_header: must be one of x-forwarded-for, forwarded/,
  );
  for (const file of ["../pubsub.yaml", "../deploy/pubsub.yaml"]) {
    const config = await loadConfig(new URL(file, import.meta.url).pathname);
    assert.deepEqual(config.server.proxies.trusted.map((b) => b.text), ["127.0.0.1/32", "::1/128"]);
  }
});

/** PUTs from `from` (a loopback address) with the given headers; returns the status. */
async function putFrom(url: string, from: string, headers: Record<string, string> = {}) {
  const client = Deno.createHttpClient({ localAddress: from });
  try {
    const res = await fetch(url, { method: "PUT", body: "{}", headers, client });
    await res.body?.cancel();
    return res.status;
  } finally {
    client.close();
  }
}

engineTest(
  "clients.payloaders sees the client a trusted proxy names, and ignores the header from others",
  async (t) => {
    const srv = await t.start({
      server: { trusted_proxies: ["127.0.0.1/32"] },
      clients: { payloaders: ["127.0.0.2/32"] },
    });
    const url = `${srv.url}/proxied`;
    try {
      assert.equal(await putFrom(url, "127.0.0.1", { "X-Forwarded-For": "127.0.0.2" }), 202);
      assert.equal(
        await putFrom(url, "127.0.0.1", { "X-Forwarded-For": "127.0.0.2, 127.0.0.3" }),
        403,
      );
      assert.equal(await putFrom(url, "127.0.0.1"), 403);
      // Not a trusted proxy: its header is a claim anyone could make.
      assert.equal(await putFrom(url, "127.0.0.3", { "X-Forwarded-For": "127.0.0.2" }), 403);
    } finally {
      await srv.close();
    }
  },
);

engineTest("server.max_streams_per_client counts the client a trusted proxy names", async (t) => {
  const srv = await t.start({
    server: { trusted_proxies: ["127.0.0.1/32"], max_streams_per_client: 1 },
  });
  const from = (client: string) => ({ headers: { "X-Forwarded-For": client } });
  const streams: StreamClient[] = [];
  try {
    streams.push(await StreamClient.open(`${srv.url}/a`, from("198.51.100.1")));
    streams.push(await StreamClient.open(`${srv.url}/a`, from("198.51.100.2")));
    const res = await fetch(`${srv.url}/a`, from("198.51.100.1"));
    assert.equal(res.status, 429);
    assert.match(await res.text(), /198\.51\.100\.1 holds 1 streams already/);
  } finally {
    await Promise.all(streams.map((s) => s.close()));
    await srv.close();
  }
});
