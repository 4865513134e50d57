/**
 * Appends a PyPubSub backlog file to a DenoPubSub history file (created when missing);
 * the server applies its retention when it opens the file.
 *
 * `deno run --allow-read --allow-write tools/import_backlog.ts BACKLOG_FILE HISTORY_FILE`
 *
 * @module
 */

import { errorMessage, log } from "../lib/log.ts";
import { openHistory } from "../lib/history/open.ts";
import { importPyPubSubBacklog } from "../lib/history/pypubsub_import.ts";

async function main(args: string[]): Promise<number> {
  const [backlog, storage] = args;
  if (!backlog || !storage || args.length !== 2) {
    log.error("usage: import_backlog.ts BACKLOG_FILE HISTORY_FILE");
    return 2;
  }
  try {
    const history = await openHistory({ size: Number.MAX_SAFE_INTEGER, maxAge: 0, storage });
    try {
      const result = await importPyPubSubBacklog(backlog, history);
      log.info("imported PyPubSub backlog", { backlog, storage, ...result });
    } finally {
      await history.close();
    }
    return 0;
  } catch (err) {
    log.error("import failed", { backlog, storage, error: errorMessage(err) });
    return 1;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
