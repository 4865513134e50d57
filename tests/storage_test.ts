/**
 * `server.backlog.storage` as README promises it over HTTP: with `sync`, an event is on
 * disk before its 202, and a write that fails for real answers 503 (the event still went
 * out live) and makes `/readyz` say that storage is not writable.
 */

import assert from "node:assert/strict";
import { Child, portIn, startChild } from "./child.ts";
import { engineTest, publish, StreamClient } from "./helpers.ts";
import { endOf, watchSyncs } from "./history_helpers.ts";

engineTest(
  "with backlog.sync, a publish is answered 202 only once its event is synced to disk",
  async (t) => {
    const dir = await Deno.makeTempDir({ prefix: "denopubsub-storage-" });
    const storage = `${dir}/history.log`;
    try {
      await using srv = await t.start({ server: { backlog: { size: 100, storage, sync: true } } });
      using syncs = watchSyncs();
      for (let i = 0; i < 3; i++) {
        assert.equal(await publish(`${srv.url}/t`, { i }), 202);
        const answered = performance.now();
        const event = srv.app.server.history.since(0).at(-1)!;
        const end = await endOf(storage, event.cursor);
        const before = syncs.calls.filter((call) => call.done < answered);
        assert.ok(
          before.some((call) => call.size >= end),
          `event ${i} was not synced before its 202`,
        );
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

/** Reads `/readyz` from the admin listener of a child. */
async function readyz(child: Child): Promise<[number, string]> {
  const port = portIn(await child.waitLine(/listening for admin/));
  const res = await fetch(`http://127.0.0.1:${port}/readyz`);
  return [res.status, await res.text()];
}

// The child may write files of 32 KiB at most: past that the kernel refuses the history's
// writes (EFBIG), as a full disk would, while the service runs on.
engineTest(
  "with backlog.sync, a write that fails answers 503, the event goes out live, /readyz names storage, and stopping says so in one line",
  async (t) => {
    const dir = await Deno.makeTempDir({ prefix: "denopubsub-storage-" });
    const storage = `${dir}/history.log`;
    try {
      await using server = await startChild(
        t.engine,
        {
          server: { max_payload_size: 20_000, backlog: { size: 100, storage, sync: true } },
          admin: { port: 0 },
        },
        null,
        { fileSizeLimit: 32 * 1024 },
      );
      const { child, url } = server;
      await using sub = await StreamClient.open(`${url}/t`);
      assert.equal(await publish(`${url}/t`, { n: 0 }), 202);
      assert.equal((await sub.next()).n, 0);
      assert.deepEqual(await readyz(child), [200, "ready\n"]);

      const pad = "x".repeat(10_000);
      const statuses: number[] = [];
      for (let n = 1; n <= 5 && !statuses.includes(503); n++) {
        statuses.push(await publish(`${url}/t`, { n, pad }));
        assert.equal((await sub.next()).n, n, "every event goes out live");
      }
      assert.equal(statuses.at(-1), 503, `statuses ${statuses}`);
      assert.ok(statuses.slice(0, -1).every((s) => s === 202), `statuses ${statuses}`);
      const res = await fetch(`${url}/t`, { method: "PUT", body: "{}" });
      assert.equal(res.status, 503, "the storage stays unwritable");
      assert.match(await res.text(), /^event delivered live but not stored: .*File too large/);
      assert.deepEqual(await readyz(child), [503, "not ready: storage\n"]);
      await child.waitLine(/ERROR .*history: cannot write the storage file/);
      child.kill("SIGTERM");
      assert.equal(await child.exit(), 1, "events were accepted that are not on disk");
      const log = child.stderr.join("\n");
      assert.match(
        log,
        /ERROR .*history: events accepted since the storage failed are not on disk/,
      );
      assert.match(log, /INFO {2}stopped$/, "everything else was stopped");
      assert.doesNotMatch(log, /^\s+at /m, "no stack trace");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);
