import assert from "node:assert/strict";
import { parse } from "yaml";
import {
  DEFAULT_SCRYPT,
  dummyVerify,
  hashPassword,
  isPasswordHash,
  PasswordBusyError,
  passwordHashProblem,
  verifyPassword,
} from "../lib/auth/password.ts";

/** Cheap parameters so that most tests run fast; the format is the same. */
const FAST = { N: 1024, r: 8, p: 1 };
const FORMAT = /^scrypt\$1024\$8\$1\$[A-Za-z0-9+/]{22}==\$[A-Za-z0-9+/]{43}=$/;

Deno.test("hashPassword() writes scrypt$N$r$p$salt$hash with a fresh salt", async () => {
  const a = await hashPassword("secret", FAST);
  const b = await hashPassword("secret", FAST);
  assert.match(a, FORMAT);
  assert.notEqual(a, b);
  assert.ok(isPasswordHash(a));
  assert.equal(passwordHashProblem(a), undefined);
});

Deno.test("hashPassword() uses N=32768, r=8, p=1 by default", async () => {
  assert.deepEqual(DEFAULT_SCRYPT, { N: 32768, r: 8, p: 1 });
  assert.ok((await hashPassword("secret")).startsWith("scrypt$32768$8$1$"));
});

Deno.test("hashPassword() refuses an empty password and bad parameters", async () => {
  await assert.rejects(hashPassword(""), { message: "refusing to hash an empty password" });
  await assert.rejects(hashPassword("x", { N: 1536, r: 8, p: 1 }), /power of two/);
  await assert.rejects(hashPassword("x", { N: 2 ** 24, r: 8, p: 1 }), /N must be an integer/);
});

Deno.test("verifyPassword() accepts the right password for a hash and nothing else", async () => {
  const stored = await hashPassword("pa:ss:word", FAST);
  assert.equal(await verifyPassword(stored, "pa:ss:word"), true);
  assert.equal(await verifyPassword(stored, "pa:ss:wore"), false);
  assert.equal(await verifyPassword(stored, "pa:ss:word "), false);
  assert.equal(await verifyPassword(stored, ""), false);
});

Deno.test("verifyPassword() compares plaintext of any length, colons included", async () => {
  assert.equal(await verifyPassword("pa:ss", "pa:ss"), true);
  assert.equal(await verifyPassword("pa:ss", "pa:s"), false);
  assert.equal(await verifyPassword("pa:ss", "pa:ss-and-much-longer"), false);
  assert.equal(await verifyPassword("", ""), false);
});

Deno.test("verifyPassword() treats composed and decomposed accents alike", async () => {
  const stored = await hashPassword("caf\u00e9", FAST);
  assert.equal(await verifyPassword(stored, "cafe\u0301"), true);
});

Deno.test("verifyPassword() refuses a malformed hash, which passwordHashProblem() explains", async () => {
  const good = await hashPassword("secret", FAST);
  const [, , , , salt, hash] = good.split("$");
  const cases: [string, RegExp][] = [
    ["scrypt$1024$8$1$" + salt, /must read scrypt\$N\$r\$p\$salt\$hash/],
    [`scrypt$1536$8$1$${salt}$${hash}`, /power of two/],
    [`scrypt$1024$0$1$${salt}$${hash}`, /r must be an integer from 1 to 32/],
    [`scrypt$1024$8$x$${salt}$${hash}`, /p must be an integer/],
    [`scrypt$1024$8$1$${salt}$not*base64`, /must be base64/],
    [`scrypt$1024$8$1$AAAA$${hash}`, /salt must be at least 8 bytes/],
    [`scrypt$1024$8$1$${salt}$AAAA`, /hash must be 16 to 64 bytes/],
  ];
  for (const [stored, problem] of cases) {
    assert.match(passwordHashProblem(stored) ?? "", problem, stored);
    assert.equal(await verifyPassword(stored, "secret"), false);
  }
  assert.equal(passwordHashProblem("plain text"), undefined);
});

Deno.test("an unknown user, a plaintext and a hashed password cost about the same", async () => {
  const hashed = await hashPassword("secret");
  // Interleaved rounds, so that a burst of load from elsewhere hits all three alike.
  const checks = [
    () => dummyVerify("guess"),
    () => verifyPassword("secret", "guess"),
    () => verifyPassword(hashed, "guess"),
  ];
  const times: number[][] = [[], [], []];
  for (let round = 0; round < 5; round++) {
    for (const [i, check] of checks.entries()) {
      const start = performance.now();
      await check();
      times[i]!.push(performance.now() - start);
    }
  }
  const median = (i: number): number => times[i]!.sort((a, b) => a - b)[2]!;
  const unknown = median(0);
  for (const [name, i] of [["plaintext", 1], ["hashed", 2]] as const) {
    const ms = median(i);
    const ratio = ms / unknown;
    assert.ok(ratio > 0.5 && ratio < 2, `${name} took ${ms} ms, unknown user ${unknown} ms`);
  }
  assert.equal(await dummyVerify("secret"), false);
});

Deno.test("verifyPassword() runs one check per core but one, queues 16 per running one, refuses the rest", async () => {
  const stored = await hashPassword("secret", FAST);
  // All 200 are asked for before any can finish.
  const results = await Promise.allSettled(
    Array.from({ length: 200 }, () => verifyPassword(stored, "secret")),
  );
  const running = Math.max(1, navigator.hardwareConcurrency - 1);
  const refused = results.filter((r) => r.status === "rejected");
  assert.equal(refused.length, 200 - running - 16 * running);
  for (const r of refused) assert.ok(r.reason instanceof PasswordBusyError);
  assert.ok(results.every((r) => r.status === "rejected" || r.value === true));
  assert.equal(await verifyPassword(stored, "secret"), true, "checks go on once the queue drains");
});

Deno.test("tools/passwd.ts prints an ACL entry whose hash verifies", async () => {
  const run = async (input: string, args: string[]) => {
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "--quiet", "tools/passwd.ts", ...args],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(input));
    await writer.close();
    const out = await child.output();
    const text = (b: Uint8Array) => new TextDecoder().decode(b);
    return { code: out.code, stdout: text(out.stdout), stderr: text(out.stderr) };
  };
  const named = await run("s3cret: with colon\nignored\n", ["alice"]);
  assert.equal(named.code, 0, named.stderr);
  const entry = parse(named.stdout) as { alice: { password: string } };
  assert.equal(await verifyPassword(entry.alice.password, "s3cret: with colon"), true);

  const bare = await run("pw\r\n", []);
  const line = parse(bare.stdout) as { password: string };
  assert.equal(await verifyPassword(line.password, "pw"), true);

  const empty = await run("\n", ["bob"]);
  assert.deepEqual([empty.code, empty.stdout, empty.stderr], [
    1,
    "",
    "passwd: the password is empty\n",
  ]);
});
