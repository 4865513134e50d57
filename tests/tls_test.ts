import assert from "node:assert/strict";
import { engineTest, publish, StreamClient } from "./helpers.ts";

/** A throwaway certificate Deno's fetch accepts (not a CA, with SANs for loopback). */
async function makeCert(dir: string): Promise<{ cert: string; key: string }> {
  const cert = `${dir}/cert.pem`;
  const key = `${dir}/key.pem`;
  const { success, stderr } = await new Deno.Command("openssl", {
    args: [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-days",
      "2",
      "-subj",
      "/CN=localhost",
      "-addext",
      "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1",
      "-addext",
      "basicConstraints=critical,CA:FALSE",
      "-addext",
      "extendedKeyUsage=serverAuth",
      "-keyout",
      key,
      "-out",
      cert,
    ],
    stdout: "null",
    stderr: "piped",
  }).output();
  assert.ok(success, new TextDecoder().decode(stderr));
  return { cert, key };
}

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
