import assert from "node:assert/strict";
import { parseCli } from "../lib/cli.ts";

Deno.test("parseCli() defaults to PyPubSub's file names, info level and text logs", () => {
  assert.deepEqual(parseCli([]), {
    config: "pubsub.yaml",
    acl: "pubsub_acl.yaml",
    logLevel: "info",
    logFormat: "text",
    importBacklog: null,
    help: false,
    version: false,
  });
});

Deno.test("parseCli() reads every flag", () => {
  assert.deepEqual(
    parseCli([
      "--config",
      "c.yaml",
      "--acl",
      "a.yaml",
      "--log-level",
      "debug",
      "--log-format",
      "json",
      "--import-backlog",
      "backlog.json",
      "-h",
      "-V",
    ]),
    {
      config: "c.yaml",
      acl: "a.yaml",
      logLevel: "debug",
      logFormat: "json",
      importBacklog: "backlog.json",
      help: true,
      version: true,
    },
  );
});

Deno.test("parseCli() refuses unknown flags, positionals and bad values in one line", () => {
  for (
    const [args, message] of [
      [["--nope"], /nope/],
      [["extra"], /extra/],
      [["--log-level", "loud"], /^--log-level must be one of debug,info,warn,error$/],
      [["--log-format", "xml"], /^--log-format must be one of text,json$/],
    ] as const
  ) {
    assert.throws(() => parseCli([...args]), (err: Error) => {
      assert.match(err.message, message);
      assert.ok(!err.message.includes("\n"), err.message);
      return true;
    });
  }
});
