import assert from "node:assert/strict";
import { fdReserve, parseFdLimit, streamsAllowedBy, streamsAllowedHere } from "../lib/ops/fds.ts";
import { portIn, startChild, taskPermissions } from "./child.ts";
import { captureWarnings, engineTest, publish, Streams } from "./helpers.ts";

const PROC_LIMITS = `Limit                     Soft Limit           Hard Limit           Units
Max cpu time              unlimited            unlimited            seconds
Max open files            20000                524288               files
Max locked memory         8388608              8388608              bytes
`;

Deno.test("parseFdLimit() reads the open-file line of /proc/PID/limits", () => {
  assert.deepEqual(parseFdLimit(PROC_LIMITS), { soft: 20000, hard: 524288 });
  assert.deepEqual(
    parseFdLimit("Max open files            unlimited            unlimited            files"),
    { soft: Infinity, hard: Infinity },
  );
  assert.equal(parseFdLimit("Max cpu time unlimited unlimited seconds"), null);
});

Deno.test("streamsAllowedBy() keeps 1 % of the descriptors, at least 100, for everything else", () => {
  assert.equal(fdReserve(1024), 100);
  assert.equal(streamsAllowedBy(1024), 924);
  assert.equal(streamsAllowedBy(65536), 65536 - 656);
  assert.equal(streamsAllowedBy(1_048_576), 1_048_576 - 10_486);
  assert.equal(streamsAllowedBy(Infinity), 0);
});

Deno.test("streamsAllowedHere() warns about a low limit and about max_streams above it", () => {
  let allowed = 0;
  const low = captureWarnings(() => allowed = streamsAllowedHere(null, { soft: 1024, hard: 1024 }));
  assert.equal(allowed, 924);
  assert.equal(low.length, 1);
  assert.match(low[0]!, /open-file limit is low.*open_files=1024 streams_allowed=924/);
  const above = captureWarnings(() => streamsAllowedHere(70000, { soft: 65536, hard: 65536 }));
  assert.match(above[0]!, /server\.max_streams is above what the open-file limit allows/);
  assert.deepEqual(
    captureWarnings(() => streamsAllowedHere(null, { soft: 65536, hard: 65536 })),
    [],
  );
  assert.deepEqual(captureWarnings(() => allowed = streamsAllowedHere(null, null)), []);
  assert.equal(allowed, 0);
});

engineTest(
  "under deno task start's permissions, the open-file limit sets max_streams: 503 past it",
  async (t) => {
    const permissions = await taskPermissions("start");
    assert.ok(permissions.includes("--allow-run=cat"), "the one command the service may run");
    await using srv = await startChild(t.engine, { admin: { port: 0 } }, null, {
      permissions,
      openFileLimit: 300,
    });
    const low = await srv.child.waitLine(/open-file limit is low/);
    assert.match(low, /open_files=300 streams_allowed=200 max_streams="open-file limit"/);
    const admin = portIn(await srv.child.waitLine(/listening for admin/));
    const metrics = await (await fetch(`http://127.0.0.1:${admin}/metrics`)).text();
    assert.match(metrics, /^denopubsub_max_streams 200$/m);

    await using streams = new Streams();
    const opened = await Promise.all(
      Array.from({ length: 200 }, (_, i) => streams.open(`${srv.url}/fd/${i}`)),
    );
    const over = await fetch(`${srv.url}/fd/over`);
    assert.equal(over.status, 503);
    assert.match(await over.text(), /holds 200 streams already \(server\.max_streams\)/);
    assert.equal(await publish(`${srv.url}/fd/199`, { n: 1 }), 202, "publishers still get in");
    assert.equal((await opened[199]!.next()).n, 1);
  },
);

engineTest(
  "without --allow-run=cat the limit is logged as unknown and streams are not capped",
  async (t) => {
    const permissions = (await taskPermissions("start")).filter((p) => p !== "--allow-run=cat");
    await using srv = await startChild(t.engine, { admin: { port: 0 } }, null, { permissions });
    const line = await srv.child.waitLine(/open-file limit unknown/);
    assert.match(line, /--allow-run=cat max_streams="unlimited"/);
    const admin = portIn(await srv.child.waitLine(/listening for admin/));
    const metrics = await (await fetch(`http://127.0.0.1:${admin}/metrics`)).text();
    assert.match(metrics, /^denopubsub_max_streams 0$/m);
  },
);
