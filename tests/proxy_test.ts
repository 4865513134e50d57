/**
 * The reverse-proxy sites in deploy/ work as written: a throwaway nginx and Apache httpd,
 * each running the site file with only its addresses changed, pass a live stream through
 * without holding events back, and name each client in X-Forwarded-For, so that
 * DenoPubSub (trusting the proxy) lets an allowed publisher publish and refuses another.
 */

import assert from "node:assert/strict";
import { type EngineContext, engineTest, StreamClient } from "./helpers.ts";
import { requireProgram } from "./programs.ts";

const DEPLOY = new URL("../deploy/", import.meta.url);
/** The publisher in `clients.payloaders`, and one that is not; the proxy is 127.0.0.1. */
const PUBLISHER = "127.0.0.2";
const REFUSED = "127.0.0.3";

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** Applies each replacement once; a missing target means the site file changed shape. */
function render(template: string, replacements: [string, string][]): string {
  return replacements.reduce((text, [from, to]) => {
    assert.ok(text.includes(from), `site file no longer contains ${JSON.stringify(from)}`);
    return text.replaceAll(from, to);
  }, template);
}

interface ProxySetup {
  /** The proxy's main configuration, which includes `site`. */
  main(dir: string, port: number, site: string): string;
  /** Replacements turning the deploy site into one on loopback ports. */
  site(port: number, upstream: number): [string, string][];
  /** The program that runs the proxy. */
  program: string;
  /** Its arguments, to run with its files in `dir`. */
  args(dir: string): string[];
}

const NGINX: ProxySetup = {
  main: (dir, _port, site) =>
    `daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  include ${site};
}
`,
  site: (port, upstream) => [
    ["server 127.0.0.1:2069;", `server 127.0.0.1:${upstream};`],
    ["listen 80;", `listen 127.0.0.1:${port};`],
  ],
  program: "nginx",
  args: (dir) => ["-p", dir, "-e", `${dir}/error.log`, "-c", `${dir}/main.conf`],
};

const MODULES = "/usr/lib/apache2/modules";
const APACHE: ProxySetup = {
  main: (dir, port, site) =>
    `ServerName localhost
PidFile ${dir}/httpd.pid
DefaultRuntimeDir ${dir}
Mutex file:${dir} default
ErrorLog ${dir}/error.log
Listen 127.0.0.1:${port}
User www-data
Group www-data
${
      ["mpm_event", "authz_core", "authz_host", "env", "proxy", "proxy_http"]
        .map((m) => `LoadModule ${m}_module ${MODULES}/mod_${m}.so`).join("\n")
    }
Include ${site}
`,
  site: (port, upstream) => [
    ["http://127.0.0.1:2069/", `http://127.0.0.1:${upstream}/`],
    ["<VirtualHost *:80>", `<VirtualHost 127.0.0.1:${port}>`],
  ],
  program: "apache2",
  args: (dir) => ["-f", `${dir}/main.conf`, "-DFOREGROUND"],
};

/** A proxy process started from a deploy site file, on a free loopback port. */
async function startProxy(setup: ProxySetup, siteFile: string, upstream: number) {
  const program = requireProgram(setup.program);
  const dir = await Deno.makeTempDir({ prefix: "denopubsub-proxy-" });
  const port = freePort();
  const template = await Deno.readTextFile(new URL(siteFile, DEPLOY));
  await Deno.writeTextFile(`${dir}/site.conf`, render(template, setup.site(port, upstream)));
  await Deno.writeTextFile(`${dir}/main.conf`, setup.main(dir, port, `${dir}/site.conf`));
  const args = setup.args(dir);
  const child = new Deno.Command(program, { args, stdin: "null", stdout: "null", stderr: "piped" })
    .spawn();
  const exited = child.output();
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    try {
      child.kill("SIGTERM");
    } catch (err) {
      if (!(err instanceof TypeError)) throw err;
    }
    const result = await exited;
    await Deno.remove(dir, { recursive: true });
    return new TextDecoder().decode(result.stderr);
  };
  try {
    await untilHeadAnswers(url);
  } catch (err) {
    const log = await Deno.readTextFile(`${dir}/error.log`).catch(() => "");
    const stderr = await stop();
    throw new Error(`${setup.program} did not start: ${(err as Error).message}\n${stderr}${log}`);
  }
  return { url, stop };
}

async function untilHeadAnswers(url: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      const res = await fetch(`${url}/`, { method: "HEAD" });
      await res.body?.cancel();
      if (res.status === 204) return;
      throw new Error(`HEAD / answered ${res.status}`);
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

async function put(url: string, body: object, from?: string): Promise<number> {
  const client = Deno.createHttpClient(from ? { localAddress: from } : {});
  try {
    const res = await fetch(url, { method: "PUT", body: JSON.stringify(body), client });
    await res.body?.cancel();
    return res.status;
  } finally {
    client.close();
  }
}

async function checkSite(t: EngineContext, setup: ProxySetup, siteFile: string): Promise<void> {
  const server = await t.start({
    server: { trusted_proxies: ["127.0.0.1/32"] },
    clients: { payloaders: [`${PUBLISHER}/32`] },
  });
  const proxy = await startProxy(setup, siteFile, server.app.server.port).catch(async (err) => {
    await server.close();
    throw err;
  });
  try {
    await using stream = await StreamClient.open(`${proxy.url}/proxied/topic`);
    assert.equal(await put(`${proxy.url}/proxied/topic`, { from: REFUSED }, REFUSED), 403);
    const sent = performance.now();
    assert.equal(await put(`${proxy.url}/proxied/topic`, { from: PUBLISHER }, PUBLISHER), 202);
    const event = await stream.next(2000);
    const ms = performance.now() - sent;
    assert.equal(event.from, PUBLISHER);
    assert.equal(event.pubsub_path, "/proxied/topic");
    assert.ok(ms < 1000, `the event took ${ms.toFixed(0)} ms through the proxy`);
  } finally {
    // The server first: it ends the proxied streams, which the proxy would otherwise hold
    // until the next keepalive line shows the client is gone.
    await server.close();
    await proxy.stop();
  }
}

engineTest(
  "nginx site in deploy/ streams events at once and tells publishers apart by their address",
  (t) => checkSite(t, NGINX, "nginx.conf"),
);

engineTest(
  "Apache site in deploy/ streams events at once and tells publishers apart by their address",
  (t) => checkSite(t, APACHE, "apache.conf"),
);
