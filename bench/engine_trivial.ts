/**
 * The generator's ceiling for `bench/engine_compare.ts --ceiling`: a `node:http` server
 * that answers every request with 202 and does nothing else. It logs the same listening
 * line as `main.ts` so the comparison starts it the same way.
 *
 * @module
 */

import { createServer } from "node:http";

const ACCEPTED = "Payload received, thank you very much!\n";

const server = createServer((req, res) => {
  req.resume();
  req.on("end", () => {
    res.writeHead(202, ["content-length", String(ACCEPTED.length)]);
    res.end(ACCEPTED);
  });
});
server.listen(0, "127.0.0.1", () => {
  const address = server.address();
  const port = address && typeof address === "object" ? address.port : 0;
  Deno.stderr.writeSync(new TextEncoder().encode(`listening for HTTP port=${port}\n`));
});
Deno.addSignalListener("SIGTERM", () => Deno.exit(0));
