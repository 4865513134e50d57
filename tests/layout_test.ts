import assert from "node:assert/strict";

const LIB = new URL("../lib/", import.meta.url);

/** Every file under `lib/`, as a path relative to it. */
async function libFiles(dir = LIB, prefix = ""): Promise<string[]> {
  const files: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    const path = prefix + entry.name;
    if (entry.isDirectory) {
      files.push(...await libFiles(new URL(`${entry.name}/`, dir), `${path}/`));
    } else if (entry.name.endsWith(".ts")) files.push(path);
  }
  return files;
}

/** The `lib/` files a module imports or re-exports (type-only imports included). */
function importsOf(file: string, source: string): string[] {
  const base = new URL(file, LIB);
  const specifiers = source.matchAll(/^(?:import|export)\b[^;]*?\bfrom\s+"(\.[^"]+\.ts)";/gms);
  return [...specifiers]
    .map((m) => new URL(m[1]!, base).href)
    .filter((href) => href.startsWith(LIB.href))
    .map((href) => href.slice(LIB.href.length));
}

async function importGraph(): Promise<Map<string, string[]>> {
  const graph = new Map<string, string[]>();
  for (const file of await libFiles()) {
    graph.set(file, importsOf(file, await Deno.readTextFile(new URL(file, LIB))));
  }
  return graph;
}

/** The first import circle found by a depth-first walk, or null. */
function findCircle(graph: Map<string, string[]>): string[] | null {
  const state = new Map<string, "open" | "done">();
  const path: string[] = [];
  const visit = (file: string): string[] | null => {
    if (state.get(file) === "done") return null;
    if (state.get(file) === "open") return [...path.slice(path.indexOf(file)), file];
    state.set(file, "open");
    path.push(file);
    for (const next of graph.get(file) ?? []) {
      const circle = visit(next);
      if (circle) return circle;
    }
    path.pop();
    state.set(file, "done");
    return null;
  };
  for (const file of graph.keys()) {
    const circle = visit(file);
    if (circle) return circle;
  }
  return null;
}

Deno.test("lib/ has no import circles, type-only imports included", async () => {
  const circle = findCircle(await importGraph());
  assert.equal(circle, null, `import circle: ${circle?.join(" -> ")}`);
});

Deno.test("a domain's contract imports none of its implementations", async () => {
  const graph = await importGraph();
  const contracts: Record<string, string[]> = {
    "history/history.ts": ["history/memory.ts", "history/log.ts", "history/file.ts"],
    "http/engine.ts": ["http/engine_deno.ts", "http/engine_node.ts"],
    "cluster/bus.ts": ["cluster/redis_bus.ts"],
  };
  for (const [contract, implementations] of Object.entries(contracts)) {
    const imports = graph.get(contract);
    assert.ok(imports, `${contract} exists`);
    for (const impl of implementations) {
      assert.ok(!imports.includes(impl), `${contract} -> ${impl}`);
    }
  }
});

Deno.test("the circle check finds a circle through several files", () => {
  const graph = new Map([["a.ts", ["b.ts"]], ["b.ts", ["c.ts"]], ["c.ts", ["a.ts"]]]);
  assert.deepEqual(findCircle(graph), ["a.ts", "b.ts", "c.ts", "a.ts"]);
});
