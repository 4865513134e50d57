import assert from "node:assert/strict";
import { chained, selfSigned } from "./fixtures/certs.ts";
import { engineTest, publish, StreamClient } from "./helpers.ts";

/** A fetch client that trusts only `pem`; `using` closes it. */
async function trusting(pem: string): Promise<Deno.HttpClient> {
  return Deno.createHttpClient({ caCerts: [await Deno.readTextFile(pem)] });
}

engineTest("server.tls adds an HTTPS listener serving the same API", async (t) => {
  await using certs = await selfSigned();
  const { cert, key } = certs;
  await using srv = await t.start({ server: { tls: { port: 0, cert, key } } });
  using client = await trusting(certs.trust);
  const https = `https://localhost:${srv.app.server.tlsPort}`;
  const head = await fetch(https, { method: "HEAD", client });
  assert.equal(head.status, 204);
  await using sub = await StreamClient.open(`${https}/secure/stream`, { client });
  assert.equal(await publish(`${srv.url}/secure/stream`, { via: "http" }), 202);
  assert.equal((await sub.next()).via, "http");
  assert.equal(await publish(`${https}/secure/stream`, { via: "https" }, { client }), 202);
  assert.equal((await sub.next()).via, "https");
});

engineTest(
  "server.tls.chain is sent after the certificate, so a client trusting only the root connects",
  async (t) => {
    await using certs = await chained();
    const { cert, key, chain } = certs;
    using client = await trusting(certs.trust);
    {
      // Without the chain the same client cannot verify the server: the check can fail.
      await using bare = await t.start({ server: { tls: { port: 0, cert, key } } });
      const url = `https://localhost:${bare.app.server.tlsPort}`;
      await assert.rejects(fetch(url, { method: "HEAD", client }), (err: Error) => {
        assert.match(String(err.cause), /UnknownIssuer/);
        return true;
      });
    }
    await using srv = await t.start({ server: { tls: { port: 0, cert, key, chain } } });
    const res = await fetch(`https://localhost:${srv.app.server.tlsPort}`, {
      method: "HEAD",
      client,
    });
    assert.equal(res.status, 204);
  },
);
