/**
 * The client library stays what it promises: dependency-free and runnable in a browser.
 * Its modules import only each other and use no Deno API; only the command line
 * (`client/cli.ts`, `client/cli/`) may.
 */

import assert from "node:assert/strict";

const CLIENT = new URL("../client/", import.meta.url);

Deno.test("client/ library modules import only each other and use no Deno API", async () => {
  const modules: string[] = [];
  for await (const entry of Deno.readDir(CLIENT)) {
    if (entry.isFile && entry.name.endsWith(".ts") && entry.name !== "cli.ts") {
      modules.push(entry.name);
    }
  }
  assert.ok(modules.includes("mod.ts") && modules.includes("subscribe.ts"));
  let imports = 0;
  for (const name of modules) {
    const source = await Deno.readTextFile(new URL(name, CLIENT));
    const specifiers = [...source.matchAll(/^(?:import|export)\b[^;]*?\bfrom\s+"([^"]+)";/gms)]
      .map((m) => m[1]!);
    imports += specifiers.length;
    for (const specifier of specifiers) {
      assert.match(specifier, /^\.\/[a-z_]+\.ts$/, `${name} imports ${specifier}`);
    }
    assert.doesNotMatch(source, /\bDeno\./, `${name} uses a Deno API`);
  }
  assert.ok(imports > 10, "the import statements were found");
});
