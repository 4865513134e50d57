import assert from "node:assert/strict";
import { parse } from "yaml";
import { parseConfig } from "../lib/config.ts";
import { ConfigError } from "../lib/section.ts";
import { captureWarnings } from "./helpers.ts";

// PyPubSub's sample sqs section, uncommented, as a PyPubSub user would have it.
const PYPUBSUB_SQS = `
server:
  port: 2069
sqs:
  defaultQueue:
    queue: myQueueName.fifo
    region: us-east-1
    delete: true  # If set, deletes items from SQS as they are processed.
    key: AWS_ACCESS_KEY_ID
    secret: AWS_SECRET_ACCESS_KEY
`;

function assertConfigError(raw: unknown, pattern: RegExp): void {
  assert.throws(() => parseConfig(raw, "f.yaml"), (err: Error) => {
    assert.ok(err instanceof ConfigError, `${err}`);
    assert.match(err.message, pattern);
    return true;
  });
}

Deno.test("parseConfig() leaves the admin listener off on loopback by default", () => {
  const config = parseConfig({ server: {} }, "f.yaml");
  assert.deepEqual(config.admin, { bind: "127.0.0.1", port: null });
  assert.deepEqual(config.sqs, []);
});

Deno.test("parseConfig() reads admin.bind and admin.port (0 picks a free port)", () => {
  const config = parseConfig({ server: {}, admin: { bind: "::1", port: 9090 } }, "f.yaml");
  assert.deepEqual(config.admin, { bind: "::1", port: 9090 });
  assert.equal(parseConfig({ server: {}, admin: { port: 0 } }, "f.yaml").admin.port, 0);
  assert.equal(parseConfig({ server: {}, admin: { port: "9100" } }, "f.yaml").admin.port, 9100);
});

Deno.test("parseConfig() errors for admin keys name the file, the key and the problem", () => {
  assertConfigError({ server: {}, admin: [] }, /^f\.yaml: admin: must be a mapping/);
  assertConfigError(
    { server: {}, admin: { port: 70000 } },
    /^f\.yaml: admin\.port: must be between 0/,
  );
  assertConfigError(
    { server: {}, admin: { port: "http" } },
    /^f\.yaml: admin\.port: must be a whole/,
  );
  assertConfigError(
    { server: {}, admin: { bind: ["a"] } },
    /^f\.yaml: admin\.bind: must be a string/,
  );
});

Deno.test("parseConfig() loads PyPubSub's sqs section unchanged", () => {
  const warnings = captureWarnings(() => {
    const config = parseConfig(parse(PYPUBSUB_SQS), "pypubsub.yaml");
    assert.deepEqual(config.sqs, [{
      name: "defaultQueue",
      queue: "myQueueName.fifo",
      region: "us-east-1",
      delete: true,
      credentials: { accessKeyId: "AWS_ACCESS_KEY_ID", secretAccessKey: "AWS_SECRET_ACCESS_KEY" },
      endpoint: null,
    }]);
    assert.ok(Object.isFrozen(config.sqs[0]));
  });
  assert.deepEqual(warnings, []);
});

Deno.test("parseConfig() reads an sqs queue without credentials, with an endpoint", () => {
  const raw = {
    server: {},
    sqs: { local: { queue: "events", region: "eu-west-1", endpoint: "http://127.0.0.1:4566" } },
  };
  const [queue] = parseConfig(raw, "f.yaml").sqs;
  assert.equal(queue?.delete, false);
  assert.equal(queue?.credentials, null);
  assert.equal(queue?.endpoint, "http://127.0.0.1:4566");
});

Deno.test("parseConfig() errors for sqs keys name the file, the key and the problem", () => {
  const q = (fields: Record<string, unknown>) => ({
    server: {},
    sqs: { q1: { queue: "events", region: "us-east-1", ...fields } },
  });
  const cases: [unknown, RegExp][] = [
    [{ server: {}, sqs: ["q"] }, /^f\.yaml: sqs: must be a mapping/],
    [{ server: {}, sqs: { q1: "events" } }, /^f\.yaml: sqs\.q1: must be a mapping/],
    [{ server: {}, sqs: { q1: {} } }, /^f\.yaml: sqs\.q1\.queue: is required/],
    [q({ queue: "" }), /^f\.yaml: sqs\.q1\.queue: is required/],
    [q({ region: null }), /^f\.yaml: sqs\.q1\.region: is required/],
    [q({ delete: "yes" }), /^f\.yaml: sqs\.q1\.delete: must be true or false/],
    [q({ key: "AKIA" }), /^f\.yaml: sqs\.q1\.secret: is required when key is set/],
    [q({ secret: "s" }), /^f\.yaml: sqs\.q1\.key: is required when secret is set/],
    [q({ endpoint: "localhost:4566" }), /^f\.yaml: sqs\.q1\.endpoint: .* must be an http/],
    [q({ endpoint: "not a url" }), /^f\.yaml: sqs\.q1\.endpoint: "not a url" is not a URL/],
  ];
  for (const [raw, pattern] of cases) assertConfigError(raw, pattern);
});

Deno.test("parseConfig() warns about unknown keys in admin and sqs sections", () => {
  const warnings = captureWarnings(() => {
    parseConfig({
      server: {},
      admin: { prot: 1 },
      sqs: { q1: { queue: "events", region: "us-east-1", dlete: true } },
    }, "f.yaml");
  });
  assert.equal(warnings.length, 2);
  assert.match(warnings.join("\n"), /admin\.prot/);
  assert.match(warnings.join("\n"), /sqs\.q1\.dlete/);
});
