/**
 * The runtime's own ceiling for publishing: an HTTP server that reads each request's body
 * and answers 202 with DenoPubSub's text, and does nothing else. `deno` runs it on
 * `Deno.serve`, `node` on `node:http`, the two engines DenoPubSub can run on; a publish of
 * ours cannot cost less than this, so the benchmark reports our publishes/s as a share of
 * it.
 *
 * `deno run --allow-net=127.0.0.1 bench/runtime_reference.ts deno|node PORT`
 *
 * @module
 */

import { createServer } from "node:http";

const ACCEPTED = "Payload received, thank you very much!\n";

function serveDeno(port: number): void {
  Deno.serve({ hostname: "127.0.0.1", port, onListen: () => {} }, async (req) => {
    await req.bytes();
    return new Response(ACCEPTED, { status: 202 });
  });
}

function serveNode(port: number): void {
  const server = createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      res.writeHead(202, ["content-length", String(ACCEPTED.length)]);
      res.end(ACCEPTED);
    });
  });
  server.listen(port, "127.0.0.1");
}

if (import.meta.main) {
  const [runtime, port] = [Deno.args[0], Number(Deno.args[1])];
  if (!Number.isInteger(port) || (runtime !== "deno" && runtime !== "node")) {
    throw new Error("usage: runtime_reference.ts deno|node PORT");
  }
  if (runtime === "deno") serveDeno(port);
  else serveNode(port);
  Deno.addSignalListener("SIGTERM", () => Deno.exit(0));
}
