/**
 * Streams over HTTP/2 on the TLS listener, with a real h2 client (Debian's curl with
 * nghttp2): `Deno.serve` negotiates h2 by ALPN; `node:https` speaks HTTP/1.1 only, and
 * curl falls back to it.
 */

import assert from "node:assert/strict";
import { selfSigned } from "./fixtures/certs.ts";
import { engineTest, publish, waitFor } from "./helpers.ts";
import { requireProgram } from "./programs.ts";

const PROTOCOL = { deno: "2", node: "1.1" } as const;

engineTest("SSE and NDJSON streams work through curl --http2 on the TLS listener", async (t) => {
  await using certs = await selfSigned();
  const { cert, key } = certs;
  const srv = await t.start({ server: { tls: { port: 0, cert, key } } });
  try {
    for (const accept of ["text/event-stream", "*/*"]) {
      const url = `https://127.0.0.1:${srv.app.server.tlsPort}/h2`;
      const curl = new Deno.Command(requireProgram("curl"), {
        args: [
          "--http2",
          "-k",
          "-N",
          "-s",
          "-i",
          "--max-time",
          "10",
          "-H",
          `Accept: ${accept}`,
          url,
        ],
        stdout: "piped",
        stderr: "null",
      }).spawn();
      const reader = curl.stdout.pipeThrough(new TextDecoderStream()).getReader();
      let text = "";
      try {
        await waitFor(() => srv.app.server.hub.size === 1, 5000, "curl to subscribe");
        await publish(`${srv.url}/h2`, { via: accept });
        while (!text.includes(`"via":"${accept}"`)) {
          const { value, done } = await reader.read();
          if (done) break;
          text += value;
        }
        assert.ok(text.includes(`"via":"${accept}"`), text);
        assert.ok(text.startsWith(`HTTP/${PROTOCOL[t.engine]} 200`), text.slice(0, 40));
        const type = accept === "*/*" ? "application/vnd.pypubsub-stream" : accept;
        assert.match(text, new RegExp(`content-type: ${type.replaceAll("/", "\\/")}`, "i"));
      } finally {
        await reader.cancel().catch(() => {});
        curl.kill();
        await curl.status;
      }
      await waitFor(() => srv.app.server.hub.size === 0, 5000, "curl's stream to end");
    }
  } finally {
    await srv.close();
  }
});
