/**
 * The cluster deployment in deploy/cluster/ fits together and works: the compose file,
 * the nodes' config and nginx's site name each other consistently, and a throwaway nginx
 * running the site (only its addresses changed) in front of two nodes of a real Redis
 * spreads streams over both, lets only the allowed network publish, and sends the
 * clients of a node that stops to the other, where they resume with their cursors.
 */

import assert from "node:assert/strict";
import { parse } from "yaml";
import { parseConfig } from "../lib/config.ts";
import { allowed } from "../lib/auth/net.ts";
import { type Line, startServer, StreamClient } from "./helpers.ts";
import { startRedis } from "./fixtures/redis.ts";
import { clusterPatch, readEvents } from "./cluster_helpers.ts";

const DIR = new URL("../deploy/cluster/", import.meta.url);
/** The allowed publisher network in the site becomes this one loopback address. */
const PUBLISHER = "127.0.0.2";

type Compose = {
  services: Record<string, { volumes?: string[]; command?: string[]; depends_on?: unknown }>;
  networks: { default: { ipam: { config: { subnet: string }[] } } };
};

Deno.test("deploy/cluster: compose, node config and nginx site name each other", async () => {
  const compose = parse(await Deno.readTextFile(new URL("compose.yaml", DIR))) as Compose;
  const { redis, node1, node2, nginx } = compose.services;
  assert.ok(redis && node1 && node2 && nginx, "services redis, node1, node2, nginx");
  assert.deepEqual(node2, node1, "every node runs the same way");
  for (const service of [node1, nginx]) {
    for (const volume of service.volumes ?? []) {
      const source = volume.split(":")[0]!;
      assert.ok(await Deno.stat(new URL(source, DIR)).catch(() => null), `${source} exists`);
    }
  }
  assert.deepEqual(node1.volumes, ["./conf:/etc/denopubsub:ro"]);
  assert.ok(redis.command?.join(" ").includes("--appendonly yes"), "Redis keeps an AOF");

  const conf = new URL("conf/pubsub.yaml", DIR);
  const config = parseConfig(parse(await Deno.readTextFile(conf)), conf.pathname);
  assert.equal(new URL(config.cluster!.redis).hostname, "redis", "the nodes use the service");
  const subnet = compose.networks.default.ipam.config[0]!.subnet;
  const nginxAddress = subnet.replace(/\.0\/\d+$/, ".5");
  assert.ok(allowed(config.clients.payloaders, nginxAddress), "nginx may publish");
  await Deno.stat(new URL("conf/pubsub_acl.yaml", DIR));

  const site = await Deno.readTextFile(new URL("nginx.conf", DIR));
  const upstreams = [...site.matchAll(/^\s*server (\S+):(\d+);/gm)];
  assert.deepEqual(upstreams.map((m) => m[1]), ["node1", "node2"]);
  for (const m of upstreams) assert.equal(Number(m[2]), config.server.port);
});

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** nginx running deploy/cluster/nginx.conf with the nodes at `upstreams`. */
async function startNginx(upstreams: number[]) {
  const dir = await Deno.makeTempDir({ prefix: "denopubsub-nginx-" });
  const port = freePort();
  let site = await Deno.readTextFile(new URL("nginx.conf", DIR));
  const replacements: [string, string][] = [
    ["server node1:2069;", `server 127.0.0.1:${upstreams[0]};`],
    ["server node2:2069;", `server 127.0.0.1:${upstreams[1]};`],
    ["listen 80;", `listen 127.0.0.1:${port};`],
    ["allow 10.0.0.0/8;", `allow ${PUBLISHER};`],
  ];
  for (const [from, to] of replacements) {
    assert.ok(site.includes(from), `the site no longer contains ${JSON.stringify(from)}`);
    site = site.replaceAll(from, to);
  }
  await Deno.writeTextFile(`${dir}/site.conf`, site);
  const temp = ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"]
    .map((kind) => `  ${kind}_temp_path ${dir}/${kind};`).join("\n");
  await Deno.writeTextFile(
    `${dir}/main.conf`,
    `daemon off;\npid ${dir}/nginx.pid;\nerror_log ${dir}/error.log;\n` +
      `events { worker_connections 128; }\n` +
      `http {\n  access_log off;\n${temp}\n  include ${dir}/site.conf;\n}\n`,
  );
  const child = new Deno.Command("nginx", {
    args: ["-p", dir, "-e", `${dir}/error.log`, "-c", `${dir}/main.conf`],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  const stop = async () => {
    child.kill("SIGTERM");
    await child.status;
    await Deno.remove(dir, { recursive: true });
  };
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      const res = await fetch(`${url}/`, { method: "HEAD" });
      await res.body?.cancel();
      if (res.status === 204) break;
    } catch (err) {
      if (Date.now() > deadline) {
        await stop();
        throw err;
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return { url, stop };
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

Deno.test("deploy/cluster nginx site: streams on both nodes, failover with cursors", async () => {
  const redis = await startRedis();
  const nodes = [
    await startServer(clusterPatch(redis, "deno")),
    await startServer(clusterPatch(redis, "node")),
  ];
  const proxy = await startNginx(nodes.map((node) => node.app.server.port));
  const streams: StreamClient[] = [];
  let stopped = false;
  try {
    for (let i = 0; i < 4; i++) streams.push(await StreamClient.open(`${proxy.url}/proxied`));
    assert.deepEqual(nodes.map((node) => node.app.server.hub.size), [2, 2]);
    assert.equal(await put(`${proxy.url}/proxied`, { i: -1 }), 403);
    assert.equal(await put(`${proxy.url}/proxied`, { i: 0 }, PUBLISHER), 202);
    const seen: Line[][] = await Promise.all(streams.map((s) => readEvents(s, 1, 2000)));

    await nodes[0]!.close();
    stopped = true;
    assert.equal(await put(`${proxy.url}/proxied`, { i: 1 }, PUBLISHER), 202);
    for (const [k, stream] of streams.entries()) {
      const lines = seen[k]!;
      try {
        lines.push(...await readEvents(stream, 1, 2000));
        continue;
      } catch {
        // The stopped node ended this stream: reconnect through nginx with the cursor.
      }
      await stream.close();
      streams[k] = await StreamClient.open(`${proxy.url}/proxied`, {
        headers: { "X-Fetch-Since-Cursor": lines[0]!.pubsub_cursor as string },
      });
      lines.push(...await readEvents(streams[k]!, 1, 2000));
    }
    for (const lines of seen) assert.deepEqual(lines.map((line) => line.i), [0, 1]);
    assert.equal(nodes[1]!.app.server.hub.size, 4, "every stream is on the remaining node");
  } finally {
    await Promise.all(streams.map((s) => s.close()));
    // The nodes first: they end the proxied streams nginx would otherwise hold open.
    await nodes[1]!.close();
    if (!stopped) await nodes[0]!.close();
    await proxy.stop();
    await redis.cleanup();
  }
});
