/**
 * Start-up time of a durable history holding 100,000 events: writes the file once, then
 * opens it in fresh processes and reports the time to open (load), the whole process
 * time, the first replays (of 1000 events, then of all) that read events in full, and a
 * replay of all once the background warm-up has read them. Run: `deno run --allow-read --allow-write --allow-run bench/history_startup.ts`.
 *
 * @module
 */

import { openHistory } from "../lib/history/open.ts";
import { log } from "../lib/log.ts";
import { commitEvent } from "./history_fixtures.ts";

const EVENTS = 100_000;
const RUNS = 3;
/** How long after opening a full replay is measured again, once warmed up. */
const WARM_UP_MS = 5000;

async function writeFile(storage: string): Promise<void> {
  const history = await openHistory({ size: EVENTS, maxAge: 0, storage });
  for (let i = 0; i < EVENTS; i++) void history.append(commitEvent());
  await history.close();
}

/** In the child: open, report milliseconds to stdout, close. */
async function openOnce(storage: string): Promise<void> {
  const t0 = performance.now();
  const history = await openHistory({ size: EVENTS, maxAge: 0, storage });
  const openMs = performance.now() - t0;
  const processMs = performance.now();
  const size = history.size;
  // Events loaded from the file are read in full when first replayed, or by the
  // background warm-up; a replay of everything right away reads all of them at once.
  let t1 = performance.now();
  history.since(0, 1000);
  const pageMs = performance.now() - t1;
  t1 = performance.now();
  history.since(0);
  const firstReplayMs = performance.now() - t1;
  await history.close();
  const warm = await openHistory({ size: EVENTS, maxAge: 0, storage });
  await new Promise((resolve) => setTimeout(resolve, WARM_UP_MS));
  t1 = performance.now();
  warm.since(0);
  const warmReplayMs = performance.now() - t1;
  await warm.close();
  const line = JSON.stringify({ openMs, processMs, size, pageMs, firstReplayMs, warmReplayMs });
  await Deno.stdout.write(new TextEncoder().encode(line + "\n"));
}

async function main(): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "history_startup_" });
  try {
    const storage = `${dir}/history.log`;
    await writeFile(storage);
    const bytes = (await Deno.stat(storage)).size;
    log.info("history file written", { events: EVENTS, megabytes: +(bytes / 1e6).toFixed(1) });
    for (let run = 1; run <= RUNS; run++) {
      const started = performance.now();
      const { stdout, code } = await new Deno.Command(Deno.execPath(), {
        args: ["run", "--allow-read", "--allow-write", import.meta.filename!, "--open", storage],
        stderr: "inherit",
      }).output();
      if (code !== 0) throw new Error(`child exited with ${code}`);
      const r = JSON.parse(new TextDecoder().decode(stdout)) as {
        openMs: number;
        processMs: number;
        size: number;
        pageMs: number;
        firstReplayMs: number;
        warmReplayMs: number;
      };
      log.info("start-up with stored events", {
        run,
        events: r.size,
        openMs: Math.round(r.openMs),
        processMs: Math.round(r.processMs),
        wallMs: Math.round(performance.now() - started),
        firstPageMs: Math.round(r.pageMs),
        replayAllMs: Math.round(r.firstReplayMs),
        replayAllAfter5sMs: Math.round(r.warmReplayMs),
      });
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

if (import.meta.main) {
  if (Deno.args[0] === "--open") await openOnce(Deno.args[1]!);
  else await main();
}
