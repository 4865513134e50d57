/**
 * Reloading settings that only a restart can change: the port, the bind address, TLS, the
 * engine, `admin`, `sqs`, `server.backlog` and `cluster` keep their running values, with a warning,
 * while the reloadable settings in the same file take effect.
 */

import assert from "node:assert/strict";
import { stringify } from "yaml";
import { configureLog } from "../lib/log.ts";
import { selfSigned } from "./fixtures/certs.ts";
import { engineTest, publish, StreamClient, testConfig } from "./helpers.ts";

/** Runs `fn`, returning the warning (and worse) lines it logged. */
async function warningsOf(fn: () => Promise<unknown>): Promise<string[]> {
  const lines: string[] = [];
  const before = configureLog({ level: "warn", write: (line) => lines.push(line) });
  try {
    await fn();
  } finally {
    configureLog(before);
  }
  return lines;
}

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  listener.close();
  return listener.addr.port;
}

/**
 * The answer to an HTTP/1.0 subscription: PyPubSub's empty 200 from the node engine, a
 * stream from the deno engine (read up to its first keepalive line).
 */
async function http10(port: number): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(new TextEncoder().encode("GET /t HTTP/1.0\r\n\r\n"));
    const buf = new Uint8Array(4096);
    let text = "";
    while (!text.includes("stillalive")) {
      const n = await conn.read(buf);
      if (n === null) break;
      text += new TextDecoder().decode(buf.subarray(0, n));
    }
    return text;
  } finally {
    conn.close();
  }
}

const LISTENER = /^\S+ WARN {2}listener settings changed; they take effect after a restart$/;
const SERVICES =
  /^\S+ WARN {2}admin, SQS, backlog or cluster settings changed; they take effect after a restart$/;

engineTest(
  "settings that change only on restart are kept on reload, each with its warning",
  async (t) => {
    await using certs = await selfSigned();
    const srv = await t.start({ admin: { port: 0 }, server: { backlog: { size: 2 } } }, {});
    try {
      const { port } = srv.app.server;
      const adminPort = srv.app.admin!.port;
      const newPort = freePort();
      // One restart-only setting more at each reload, so that each must bring its warning.
      const steps: [string, Record<string, unknown>, RegExp][] = [
        ["port", { server: { port: newPort } }, LISTENER],
        ["bind", { server: { bind: "127.0.0.2" } }, LISTENER],
        ["tls", { server: { tls: { port: 0, cert: certs.cert, key: certs.key } } }, LISTENER],
        ["engine", { server: { engine: t.engine === "deno" ? "node" : "deno" } }, LISTENER],
        ["admin", { admin: { port: freePort() } }, SERVICES],
        [
          "sqs",
          { sqs: { q: { queue: "q", region: "us-east-1", endpoint: "http://127.0.0.1:9" } } },
          SERVICES,
        ],
        ["backlog", { server: { backlog: { size: 100, max_age: "1h" } } }, SERVICES],
        ["cluster", { cluster: { redis: "redis://127.0.0.1:9/0" } }, SERVICES],
      ];
      let patch: Record<string, unknown> = {
        admin: { port: 0 },
        server: { backlog: { size: 2 }, engine: t.engine },
      };
      for (const [name, change, warning] of steps) {
        patch = testConfig({
          ...patch,
          ...change,
          server: { ...patch.server as object, ...change.server as object },
        });
        await Deno.writeTextFile(srv.files.config, stringify(patch));
        const warnings = await warningsOf(async () => assert.ok(await srv.app.reload("all")));
        assert.equal(warnings.length, 1, `${name}: ${warnings.join("\n")}`);
        assert.match(warnings[0]!, warning, name);
      }

      const reloadable = testConfig({
        ...patch,
        server: { ...patch.server as object, max_payload_size: 100 },
      });
      await Deno.writeTextFile(srv.files.config, stringify(reloadable));
      const quiet = await warningsOf(async () => assert.ok(await srv.app.reload("all")));
      assert.deepEqual(quiet, [], "a reload of reloadable settings alone warns about nothing");
      assert.equal(await publish(srv.url, { pad: "x".repeat(200) }), 413, "and they apply");

      const refused = await fetch(`http://127.0.0.1:${newPort}/`, { method: "HEAD" })
        .then(() => false, () => true);
      assert.ok(refused, "nothing listens on the new port");
      assert.equal(srv.app.server.port, port);
      assert.equal(srv.app.server.tlsPort, 0, "no TLS listener");
      const head = await http10(port);
      if (t.engine === "node") assert.match(head, /^content-length: 0\r$/im, "still node");
      else assert.match(head, /stillalive/, "still deno");
      assert.equal(srv.app.admin!.port, adminPort);
      const health = await fetch(`http://127.0.0.1:${adminPort}/healthz`);
      assert.equal(health.status, 200);
      await health.body?.cancel();
      assert.equal(srv.app.sqs, null, "no SQS reader started");
      for (let i = 0; i < 3; i++) assert.equal(await publish(`${srv.url}/t`, { i }), 202);
      await using replay = await StreamClient.open(`${srv.url}/t`, {
        headers: { "X-Fetch-Since": "0" },
      });
      assert.deepEqual([(await replay.next()).i, (await replay.next()).i], [1, 2], "size 2 kept");
      await replay.expectSilence();
    } finally {
      await srv.close();
    }
  },
);
