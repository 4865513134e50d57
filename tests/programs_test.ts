import assert from "node:assert/strict";
import { MissingProgram, requireProgram, requirePython } from "./programs.ts";

Deno.test("requireProgram() finds a program on PATH or in the sbin folders", () => {
  const openssl = requireProgram("openssl");
  assert.match(openssl, /^\/.*\/openssl$/);
  assert.ok(Deno.statSync(openssl).isFile);
  assert.match(requireProgram("slapd"), /\/sbin\/slapd$/, "found without /usr/sbin on PATH too");
});

Deno.test("requireProgram() fails in one line naming the Debian package to install", () => {
  const path = Deno.env.get("PATH") ?? "";
  Deno.env.set("PATH", "/nonexistent");
  try {
    assert.throws(() => requireProgram("curl"), (err: Error) => {
      assert.ok(err instanceof MissingProgram);
      assert.equal(err.message, "curl is not installed; run: apt-get install curl");
      assert.equal(err.stack, `MissingProgram: ${err.message}`);
      return true;
    });
  } finally {
    Deno.env.set("PATH", path);
  }
});

Deno.test("requirePython() returns Debian's python3 once it has imported the modules", async () => {
  assert.equal(await requirePython("aiohttp", "requests"), "/usr/bin/python3");
  await assert.rejects(
    requirePython("no_such_module"),
    /no Debian package known for no_such_module/,
  );
});
