import assert from "node:assert/strict";
import { parseOptions } from "./options.ts";

Deno.test("parseOptions() takes --transport repeated or as a list, NDJSON alone by default", () => {
  assert.deepEqual(parseOptions([]).transports, []);
  assert.deepEqual(parseOptions(["--transport", "sse,ws", "--transport", "ndjson"]).transports, [
    "sse",
    "ws",
    "ndjson",
  ]);
});

Deno.test("parseOptions() refuses an unknown transport, naming it", () => {
  assert.throws(() => parseOptions(["--transport", "grpc"]), /--transport grpc: expected one of/);
});
