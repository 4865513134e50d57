import assert from "node:assert/strict";
import { engineTest, StreamClient } from "./helpers.ts";

const PAGE = "https://app.example.org";

engineTest("CORS is off by default: no CORS headers, OPTIONS stays 405", async (t) => {
  const srv = await t.start();
  try {
    const head = await fetch(srv.url, { method: "HEAD", headers: { Origin: PAGE } });
    assert.equal(head.headers.get("access-control-allow-origin"), null);
    const options = await fetch(`${srv.url}/t`, { method: "OPTIONS", headers: { Origin: PAGE } });
    await options.body?.cancel();
    assert.equal(options.status, 405);
  } finally {
    await srv.close();
  }
});

engineTest(
  "server.cors.origins: a listed origin may read with credentials, others get nothing",
  async (t) => {
    const srv = await t.start({ server: { cors: { origins: [PAGE] } } });
    try {
      const sub = await StreamClient.open(`${srv.url}/t`, { headers: { Origin: PAGE } });
      const h = sub.response.headers;
      await sub.close();
      assert.equal(h.get("access-control-allow-origin"), PAGE);
      assert.equal(h.get("access-control-allow-credentials"), "true");
      // Deno.serveHttp adds Accept-Encoding to Vary, as it may compress.
      assert.match(h.get("vary") ?? "", /(^|, )Origin(,|$)/);
      assert.match(h.get("access-control-expose-headers") ?? "", /X-Subscribers, X-Requests/);
      assert.match(h.get("access-control-expose-headers") ?? "", /X-Newest-Cursor/);
      const preflight = await fetch(`${srv.url}/t`, {
        method: "OPTIONS",
        headers: { Origin: PAGE, "Access-Control-Request-Method": "PUT" },
      });
      await preflight.body?.cancel();
      assert.equal(preflight.status, 204);
      assert.equal(preflight.headers.get("access-control-allow-origin"), PAGE);
      assert.match(preflight.headers.get("access-control-allow-methods") ?? "", /PUT/);
      const allowed = preflight.headers.get("access-control-allow-headers") ?? "";
      for (
        const name of ["Authorization", "Last-Event-ID", "X-Fetch-Since-Cursor", "Content-Type"]
      ) {
        assert.ok(allowed.includes(name), `${name} in ${allowed}`);
      }
      const other = await fetch(srv.url, {
        method: "HEAD",
        headers: { Origin: "https://evil.example" },
      });
      assert.equal(other.headers.get("access-control-allow-origin"), null);
      assert.match(other.headers.get("vary") ?? "", /(^|, )Origin(,|$)/);
      const otherPreflight = await fetch(srv.url, {
        method: "OPTIONS",
        headers: { Origin: "https://evil.example" },
      });
      await otherPreflight.body?.cancel();
      assert.equal(otherPreflight.status, 403);
      assert.equal(otherPreflight.headers.get("access-control-allow-origin"), null);
    } finally {
      await srv.close();
    }
  },
);

engineTest('server.cors.origins "*" names any origin back, without credentials', async (t) => {
  const srv = await t.start({ server: { cors: { origins: "*" } } });
  try {
    const res = await fetch(`${srv.url}/t`, {
      method: "PUT",
      body: "[]",
      headers: { Origin: PAGE },
    });
    await res.body?.cancel();
    assert.equal(res.status, 400, "an error answer is readable by the page too");
    assert.equal(res.headers.get("access-control-allow-origin"), PAGE);
    assert.equal(res.headers.get("access-control-allow-credentials"), null);
  } finally {
    await srv.close();
  }
});

engineTest(
  "a browser navigating to a topic gets the viewer page; server.viewer: false turns it off",
  async (t) => {
    const html = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
    const on = await t.start();
    const off = await t.start({ server: { viewer: false } });
    try {
      const page = await fetch(`${on.url}/git`, { headers: { Accept: html } });
      assert.equal(page.status, 200);
      assert.equal(page.headers.get("content-type"), "text/html; charset=utf-8");
      assert.match(page.headers.get("content-security-policy") ?? "", /default-src 'none'/);
      const text = await page.text();
      assert.match(text, /<title>DenoPubSub live viewer<\/title>/);
      assert.doesNotMatch(text, /(src|href)="https?:/, "no external assets");
      const stream = await StreamClient.open(`${off.url}/git`, { headers: { Accept: html } });
      assert.equal(stream.response.headers.get("content-type"), "application/vnd.pypubsub-stream");
      await stream.close();
    } finally {
      await on.close();
      await off.close();
    }
  },
);
