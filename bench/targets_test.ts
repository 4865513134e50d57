import assert from "node:assert/strict";
import { runtimeTarget, startV8Flags } from "./targets.ts";

Deno.test("startV8Flags takes the V8 flags of the start task, as deno task start runs", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bench-targets-" });
  try {
    await Deno.writeTextFile(
      `${dir}/deno.json`,
      JSON.stringify({
        tasks: { start: "deno run --v8-flags=--max-semi-space-size=8 -A main.ts" },
      }),
    );
    assert.deepEqual(await startV8Flags(dir), ["--v8-flags=--max-semi-space-size=8"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("startV8Flags is empty without a deno.json", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bench-targets-" });
  try {
    assert.deepEqual(await startV8Flags(dir), []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the repository's start task sets the young generation size the benchmark measures", async () => {
  const root = new URL("..", import.meta.url).pathname;
  assert.deepEqual(await startV8Flags(root), ["--v8-flags=--max-semi-space-size=8"]);
});

for (const engine of ["deno", "node"]) {
  for (const floor of [false, true]) {
    const name = `runtimeTarget("${engine}"${floor ? ", floor" : ""})`;
    Deno.test(`${name} answers a publish with 202 and DenoPubSub's text`, async () => {
      const server = await runtimeTarget(engine, floor).start(null);
      try {
        const res = await fetch(`http://127.0.0.1:${server.port}/t`, {
          method: "POST",
          body: '{"a":1}',
        });
        assert.equal(res.status, 202);
        assert.equal(await res.text(), "Payload received, thank you very much!\n");
        assert.equal(res.headers.get("x-requests"), floor ? "1" : null);
      } finally {
        await server.stop();
      }
    });
  }
}
