/**
 * The one-file build (`deno task bundle`) runs on its own: copied to an empty directory and
 * started without deno.json, lock file or network, it serves, delivers and stops cleanly.
 */

import assert from "node:assert/strict";
import { engineTest } from "./helpers.ts";

const ROOT = new URL("..", import.meta.url);
const DENO = Deno.execPath();
const decoder = new TextDecoder();
/** Flags the bundled server is run with; the same as `deno task compile` bakes in. */
const PERMISSIONS = [
  "--allow-net=127.0.0.1",
  "--allow-env=LOG_TOKENS,LOG_STREAM,WS_NO_BUFFER_UTIL,WS_NO_UTF_8_VALIDATE",
];

async function run(args: string[], cwd: URL | string): Promise<void> {
  const out = await new Deno.Command(DENO, { args, cwd, stdout: "piped", stderr: "piped" })
    .output();
  assert.ok(out.success, `deno ${args.join(" ")} failed:\n${decoder.decode(out.stderr)}`);
}

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** Sends SIGTERM; a child that already exited has nothing to stop and its status tells why. */
function stop(child: Deno.ChildProcess): void {
  try {
    child.kill("SIGTERM");
  } catch (err) {
    if (!(err instanceof TypeError)) throw err;
  }
}

async function waitUntilServing(url: string, deadline: number): Promise<Response> {
  for (;;) {
    try {
      const res = await fetch(url, { method: "HEAD" });
      await res.body?.cancel();
      return res;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

/** Reads the stream until a line contains `needle`, or fails at `deadline`. */
async function readLineWith(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  needle: string,
  deadline: number,
): Promise<string> {
  let text = "";
  while (Date.now() < deadline) {
    const { value, done } = await reader.read();
    if (done) break;
    text += decoder.decode(value, { stream: true });
    const line = text.split("\n").find((l) => l.includes(needle));
    if (line) return line;
  }
  assert.fail(`no line with ${needle} on the stream; got: ${text}`);
}

/** `deno task bundle`, run once for every test of this file. */
let bundled: Promise<void> | undefined;

engineTest("bundled build serves, delivers an event and exits 0 on SIGTERM", async (t) => {
  const deadline = Date.now() + 30_000;
  bundled ??= run(["task", "bundle"], ROOT);
  await bundled;
  const dir = await Deno.makeTempDir({ prefix: "denopubsub-bundle-" });
  try {
    await Deno.copyFile(new URL("dist/denopubsub.js", ROOT), `${dir}/denopubsub.js`);
    const port = freePort();
    await Deno.writeTextFile(
      `${dir}/pubsub.yaml`,
      `server:\n  bind: 127.0.0.1\n  port: ${port}\n  engine: ${t.engine}\n` +
        `clients:\n  payloaders: [127.0.0.1/32]\n`,
    );
    await Deno.writeTextFile(`${dir}/pubsub_acl.yaml`, "");
    const child = new Deno.Command(DENO, {
      args: [
        "run",
        "--no-config",
        "--no-lock",
        "--cached-only",
        "--no-prompt",
        ...PERMISSIONS,
        `--allow-read=${dir}`,
        `--allow-write=${dir}`,
        "denopubsub.js",
        "--config",
        "pubsub.yaml",
        "--acl",
        "pubsub_acl.yaml",
      ],
      cwd: dir,
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const exited = child.output();
    const base = `http://127.0.0.1:${port}`;
    try {
      const head = await waitUntilServing(`${base}/`, deadline);
      assert.equal(head.status, 204);

      const stream = await fetch(`${base}/bundle/check`);
      const reader = stream.body!.getReader();
      try {
        assert.equal(stream.status, 200);
        const put = await fetch(`${base}/bundle/check/extra`, {
          method: "PUT",
          body: JSON.stringify({ marker: "from-the-bundle" }),
        });
        await put.body?.cancel();
        assert.equal(put.status, 202);
        const line = await readLineWith(reader, "from-the-bundle", deadline);
        assert.deepEqual(JSON.parse(line).pubsub_topics.sort(), ["bundle", "check", "extra"]);
      } finally {
        await reader.cancel();
      }
    } finally {
      stop(child);
    }
    const result = await exited;
    assert.equal(result.code, 0, `exit ${result.code}:\n${decoder.decode(result.stderr)}`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
