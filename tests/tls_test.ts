import assert from "node:assert/strict";
import { engineTest, publish, StreamClient } from "./helpers.ts";
import { makeCert } from "./tls_cert.ts";

engineTest("server.tls adds an HTTPS listener serving the same API", async (t) => {
  const dir = await Deno.makeTempDir();
  const { cert, key } = await makeCert(dir);
  const srv = await t.start({ server: { tls: { port: 0, cert, key } } });
  const client = Deno.createHttpClient({ caCerts: [await Deno.readTextFile(cert)] });
  try {
    const https = `https://localhost:${srv.app.server.tlsPort}`;
    const head = await fetch(https, { method: "HEAD", client });
    assert.equal(head.status, 204);
    const sub = await StreamClient.open(`${https}/secure/stream`, { client });
    assert.equal(await publish(`${srv.url}/secure/stream`, { via: "http" }), 202);
    assert.equal((await sub.next()).via, "http");
    assert.equal(await publish(`${https}/secure/stream`, { via: "https" }, { client }), 202);
    assert.equal((await sub.next()).via, "https");
    await sub.close();
  } finally {
    client.close();
    await srv.close();
    await Deno.remove(dir, { recursive: true });
  }
});
