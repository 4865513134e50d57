/**
 * The runtime's own ceiling for publishing: an HTTP server that reads each request's body
 * and answers 202 with DenoPubSub's text, and does nothing else. `deno` runs it on
 * `Deno.serve`, `node` on `node:http`, the two engines DenoPubSub can run on; a publish of
 * ours cannot cost less than this, so the benchmark reports our publishes/s as a share of
 * it.
 *
 * `deno-floor` and `node-floor` also do, through the same API, what the protocol makes
 * every publish do whatever the server: read `Content-Length` and `Authorization`, the
 * peer's address and the request URL, and answer with `Server`, `X-Subscribers` and
 * `X-Requests`. The distance from the ceiling to the floor is the runtime's, not ours.
 *
 * `deno run --allow-net=127.0.0.1 bench/runtime_reference.ts deno|node|deno-floor|node-floor PORT`
 *
 * @module
 */

import { createServer, type IncomingMessage } from "node:http";

const ACCEPTED = "Payload received, thank you very much!\n";
const SERVER = "DenoPubSub/0.0.0";

let requests = 0;

function serveDeno(port: number, floor: boolean): void {
  Deno.serve({ hostname: "127.0.0.1", port, onListen: () => {} }, async (req, info) => {
    if (!floor) {
      await req.bytes();
      return new Response(ACCEPTED, { status: 202 });
    }
    requests++;
    req.headers.get("content-length");
    req.headers.get("authorization");
    info.remoteAddr.hostname;
    req.url;
    await req.bytes();
    return new Response(ACCEPTED, {
      status: 202,
      headers: { "Server": SERVER, "X-Subscribers": "0", "X-Requests": String(requests) },
    });
  });
}

function floorHeaders(req: IncomingMessage): Record<string, string> {
  requests++;
  req.socket.remoteAddress;
  req.url;
  req.headers["content-length"];
  req.headers["authorization"];
  return {
    "Server": SERVER,
    "X-Subscribers": "0",
    "X-Requests": String(requests),
    "Content-Type": "text/plain;charset=UTF-8",
    "Content-Length": String(ACCEPTED.length),
  };
}

function serveNode(port: number, floor: boolean): void {
  const server = createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      res.writeHead(202, floor ? floorHeaders(req) : ["content-length", String(ACCEPTED.length)]);
      res.end(ACCEPTED);
    });
  });
  server.listen(port, "127.0.0.1");
}

if (import.meta.main) {
  const [kind, port] = [Deno.args[0] ?? "", Number(Deno.args[1])];
  const [runtime, variant] = kind.split("-");
  if (
    !Number.isInteger(port) || (runtime !== "deno" && runtime !== "node") ||
    (variant !== undefined && variant !== "floor")
  ) {
    throw new Error("usage: runtime_reference.ts deno|node|deno-floor|node-floor PORT");
  }
  if (runtime === "deno") serveDeno(port, variant === "floor");
  else serveNode(port, variant === "floor");
  Deno.addSignalListener("SIGTERM", () => Deno.exit(0));
}
