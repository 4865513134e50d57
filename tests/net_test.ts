import assert from "node:assert/strict";
import { allowed, parseAddress, parseCidr } from "../lib/auth/net.ts";

const blocks = (...texts: string[]) => texts.map(parseCidr);

Deno.test("allowed() matches IPv4 blocks, host bits set as in PyPubSub's samples", () => {
  const list = blocks("127.0.0.1/24", "10.0.0.1/8");
  assert.ok(allowed(list, "127.0.0.200"));
  assert.ok(allowed(list, "10.255.1.1"));
  assert.ok(!allowed(list, "127.0.1.1"));
  assert.ok(!allowed(list, "192.168.0.1"));
});

Deno.test("allowed() matches IPv6 blocks and compressed forms", () => {
  const list = blocks("2001:db8::/32", "::1");
  assert.ok(allowed(list, "2001:db8:0:0:1::5"));
  assert.ok(allowed(list, "::1"));
  assert.ok(allowed(list, "[::1]"));
  assert.ok(!allowed(list, "2001:db9::1"));
  assert.ok(!allowed(list, "::2"));
});

Deno.test("allowed() treats an IPv4-mapped IPv6 peer as IPv4", () => {
  assert.ok(allowed(blocks("127.0.0.0/8"), "::ffff:127.0.0.1"));
  assert.ok(allowed(blocks("::ffff:10.0.0.0/104"), "10.1.2.3"));
  assert.ok(!allowed(blocks("::1"), "::ffff:127.0.0.1"));
});

Deno.test("allowed() refuses garbage addresses", () => {
  assert.ok(!allowed(blocks("0.0.0.0/0", "::/0"), "not-an-ip"));
});

Deno.test("parseAddress() parses IPv4, IPv6 and embedded IPv4", () => {
  assert.deepEqual(parseAddress("1.2.3.4"), { family: 4, value: 0x01020304n });
  assert.deepEqual(parseAddress("::"), { family: 6, value: 0n });
  assert.deepEqual(parseAddress("64:ff9b::1.2.3.4")?.value, (0x64ff9bn << 96n) | 0x01020304n);
  assert.equal(parseAddress("1.2.3.256"), null);
  assert.equal(parseAddress("1::2::3"), null);
  assert.equal(parseAddress("1:2:3:4:5:6:7:8:9"), null);
});

Deno.test("parseCidr() rejects bad blocks with a message quoting the value", () => {
  assert.throws(() => parseCidr("10.0.0.0/33"), /"10.0.0.0\/33" has a bad prefix length/);
  assert.throws(() => parseCidr("::/129"), /bad prefix length/);
  assert.throws(() => parseCidr("example.org/24"), /is not an IPv4 or IPv6/);
  assert.throws(() => parseCidr("10.0.0.0/8/8"), /is not an IPv4 or IPv6/);
  assert.throws(() => parseCidr("10.0.0.0/x"), /bad prefix length/);
});
