/**
 * The client's command line (`client/cli.ts`, run as `deno task sub` / `deno task pub`)
 * as a child process against real servers: a crash of the server, a restart of `sub`
 * itself, the readable and raw forms, passwords, and `pub`'s exit codes.
 */

import assert from "node:assert/strict";
import {
  CLI_PERMISSIONS,
  CliProcess,
  durableFiles,
  runCli,
  ServerProcess,
} from "./client_helpers.ts";
import {
  engineTest,
  type Line,
  publish,
  startServer,
  StreamClient,
  type TestServer,
  waitFor,
  withEngine,
} from "./helpers.ts";

const BACKLOG = { server: { backlog: { size: 100 } } };

async function publishRange(url: string, from: number, to: number): Promise<void> {
  for (let n = from; n <= to; n++) assert.equal(await publish(url, { n }), 202);
}

/** The `n` of each NDJSON line. */
function ns(lines: string[]): unknown[] {
  return lines.map((line) => (JSON.parse(line) as Line).n);
}

/** Every retained line of `/t`, as the server sends it in a replay. */
async function serverLines(url: string, count: number): Promise<string[]> {
  const stream = await StreamClient.open(`${url}/t`, { headers: { "X-Fetch-Since": "0" } });
  const decoder = new TextDecoder();
  const lines: string[] = [];
  try {
    for (let i = 0; i < count; i++) lines.push(decoder.decode(await stream.nextRaw()).trimEnd());
  } finally {
    await stream.close();
  }
  return lines;
}

function fileExists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

/** Waits until the server child counts `count` open streams (`X-Subscribers`). */
async function subscribers(url: string, count: number): Promise<void> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const res = await fetch(url, { method: "HEAD" }).catch(() => null);
    await res?.body?.cancel();
    if (res?.headers.get("x-subscribers") === String(count)) return;
    if (Date.now() > deadline) throw new Error(`never ${count} subscribers`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

engineTest(
  "sub --raw --cursor-file prints each event once, in order, across a server kill -9",
  async (t) => {
    const files = await durableFiles(withEngine({}, t.engine));
    const cursorFile = `${files.dir}/cursor`;
    let server = await ServerProcess.start(files);
    const sub = new CliProcess(["sub", `${server.url}/t`, "--raw", "--cursor-file", cursorFile]);
    try {
      await subscribers(server.url, 1);
      await publishRange(`${server.url}/t`, 1, 5);
      await sub.waitLines(5);
      await server.stop("SIGKILL");
      server = await ServerProcess.start(files);
      await publishRange(`${server.url}/t`, 6, 10);
      const lines = await sub.waitLines(10);
      await sub.waitStderr(/reconnected/);
      sub.kill("SIGTERM");
      assert.equal(await sub.exit(), 0);
      assert.deepEqual(ns(sub.lines), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
      assert.deepEqual(
        lines,
        await serverLines(server.url, 10),
        "the lines as the server sent them",
      );
      const last = JSON.parse(lines[9]!) as Line;
      assert.equal(await Deno.readTextFile(cursorFile), `${last.pubsub_cursor}\n`);
      assert.match(sub.stderr, /retrying in/);
    } finally {
      sub.kill("SIGKILL");
      await sub.exit();
      await server.stop();
      await files.cleanup();
    }
  },
);

engineTest(
  "sub stopped and started again with its cursor file prints exactly what it missed",
  async (t) => {
    const srv = await t.start(BACKLOG);
    const cursorFile = `${srv.files.dir}/cursor`;
    const url = `${srv.url}/t`;
    const args = ["sub", url, "--raw", "--cursor-file", cursorFile];
    const cursorWritten = async () => {
      await waitFor(() => fileExists(cursorFile), 3000, "the cursor file");
    };
    /** Runs `sub`, then `during`; stops it with `signal`; returns what it printed. */
    const run = async (signal: Deno.Signal, expected: number, during = async () => {}) => {
      const sub = new CliProcess(args);
      try {
        await waitFor(() => srv.app.server.hub.size === 1, 15_000, "sub to connect");
        await during();
        await sub.waitLines(expected);
      } finally {
        sub.kill(signal);
      }
      assert.equal(await sub.exit(), signal === "SIGINT" ? 130 : 0, sub.stderr);
      await waitFor(() => srv.app.server.hub.size === 0, 3000, "sub to leave");
      return ns(sub.lines);
    };
    try {
      await publish(url, { n: 0 });
      const first = await run("SIGTERM", 0, cursorWritten);
      assert.deepEqual(first, [], "started live: the older event is not printed");
      await publishRange(url, 1, 3);
      assert.deepEqual(await run("SIGINT", 6, () => publishRange(url, 4, 6)), [1, 2, 3, 4, 5, 6]);
      await publishRange(url, 7, 9);
      assert.deepEqual(await run("SIGTERM", 3), [7, 8, 9]);
    } finally {
      await srv.close();
    }
  },
);

Deno.test("sub prints time, path, cursor and the indented body by default", async () => {
  const srv = await startServer();
  const sub = new CliProcess(["sub", `${srv.url}/fruits`]);
  try {
    await waitFor(() => srv.app.server.hub.size === 1, 15_000, "sub to connect");
    assert.equal(await publish(`${srv.url}/fruits/apples`, { kind: "apple", n: [1, 2] }), 202);
    await sub.waitLines(7);
    assert.match(
      sub.stdout,
      /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z \/fruits\/apples [0-9a-f-]{36}\n\{\n {2}"kind": "apple",\n {2}"n": \[\n {4}1,\n {4}2\n {2}\]\n\}\n\n$/,
    );
  } finally {
    sub.kill("SIGTERM");
    await sub.exit();
    await srv.close();
  }
});

Deno.test("sub --user reads DENOPUBSUB_PASSWORD; a wrong password exits 1 with the reason", async () => {
  const srv = await startServer({}, { alice: { password: "alice-pw", acl: { s: ["secret"] } } });
  const url = `${srv.url}/secret`;
  try {
    const wrong = await runCli(["sub", url, "--user", "alice"], { DENOPUBSUB_PASSWORD: "x" });
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /401 wrong user name or password/);

    const unasked = await runCli(["sub", url, "--user", "alice"]);
    assert.equal(unasked.code, 1, "no password and no terminal to ask on");
    assert.match(unasked.stderr, /needs DENOPUBSUB_PASSWORD set, or a terminal/);

    const sub = new CliProcess(["sub", url, "--raw", "--user", "alice"], {
      DENOPUBSUB_PASSWORD: "alice-pw",
    });
    try {
      await waitFor(() => srv.app.server.hub.size === 1, 15_000, "sub to connect");
      assert.equal(await publish(`${srv.url}/private/secret`, { n: 1 }), 202);
      const [line] = await sub.waitLines(1);
      assert.equal((JSON.parse(line!) as Line).pubsub_path, "/private/secret");
    } finally {
      sub.kill("SIGTERM");
      await sub.exit();
    }
  } finally {
    await srv.close();
  }
});

/** A server with a subscriber on `/t` to see what `pub` delivers. */
async function withListener(fn: (srv: TestServer, stream: StreamClient) => Promise<void>) {
  const srv = await startServer(
    { clients: { secure_topics: ["deploy"] } },
    { deployer: { password: "deploy-pw", topics: ["deploy"] } },
  );
  const stream = await StreamClient.open(`${srv.url}/t`);
  try {
    await fn(srv, stream);
  } finally {
    await stream.close();
    await srv.close();
  }
}

Deno.test("pub sends an argument or stdin as written and exits 0 on 202", async () => {
  await withListener(async (srv, stream) => {
    const arg = await runCli(["pub", `${srv.url}/t`, '{"big": 12345678901234567890}']);
    assert.equal(arg.code, 0, arg.stderr);
    assert.match(
      new TextDecoder().decode(await stream.nextRaw()),
      /^\{"big": 12345678901234567890,/,
    );
    const piped = await runCli(["pub", `${srv.url}/t`, "-"], {}, '{"n": 2}\n');
    assert.equal(piped.code, 0, piped.stderr);
    assert.equal((await stream.next()).n, 2);
    const secure = await runCli(["pub", `${srv.url}/t/deploy`, '{"n": 3}', "--user", "deployer"], {
      DENOPUBSUB_PASSWORD: "deploy-pw",
    });
    assert.equal(secure.code, 0, secure.stderr);
    assert.equal((await stream.next()).n, 3);
  });
});

Deno.test("pub prints the status and reason of a refusal and exits 1; bad usage exits 2", async () => {
  await withListener(async (srv, stream) => {
    const array = await runCli(["pub", `${srv.url}/t`, "[1]"]);
    assert.equal(array.code, 1);
    assert.match(array.stderr, /^pub: http:\/\/127\.0\.0\.1:\d+\/t: 400 .*JSON object/);
    const secure = await runCli(["pub", `${srv.url}/t/deploy`, "{}"]);
    assert.equal(secure.code, 1);
    assert.match(secure.stderr, /401 publishing to deploy needs a login/);
    const inUrl = await runCli(["pub", `http://deployer:deploy-pw@127.0.0.1/t`, "{}"]);
    assert.equal(inUrl.code, 2);
    assert.match(inUrl.stderr, /password in DENOPUBSUB_PASSWORD/);
    assert.equal((await runCli(["pub"])).code, 2);
    assert.equal((await runCli(["sub", `${srv.url}/t`, "--password", "x"])).code, 2);
    await stream.expectSilence();
  });
});

Deno.test("deno install makes a command that publishes", async () => {
  const root = await Deno.makeTempDir({ prefix: "denopubsub-install-" });
  const srv = await startServer();
  try {
    const cli = new URL("../client/cli.ts", import.meta.url).pathname;
    const install = await new Deno.Command(Deno.execPath(), {
      args: ["install", "-g", "--root", root, "-n", "denopubsub", ...CLI_PERMISSIONS, cli],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.ok(install.success, new TextDecoder().decode(install.stderr));
    const pub = await new Deno.Command(`${root}/bin/denopubsub`, {
      args: ["pub", `${srv.url}/t`, '{"n": 1}'],
      env: { PATH: `${Deno.execPath().replace(/\/[^/]+$/, "")}:${Deno.env.get("PATH")}` },
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.ok(pub.success, new TextDecoder().decode(pub.stderr));
    assert.equal(srv.app.server.metrics.accepted.value, 1);
  } finally {
    await srv.close();
    await Deno.remove(root, { recursive: true });
  }
});
