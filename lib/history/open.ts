/**
 * Picks and opens the history backend that the options describe: memory only, or the log
 * file. It sits above the {@link History} contract and both backends, which never import it.
 *
 * @module
 */

import type { History, HistoryOptions } from "./history.ts";
import { openLogHistory } from "./log.ts";
import { MemoryHistory } from "./memory.ts";

export { HistoryError } from "./log.ts";

/**
 * Opens the history described by `opts`: in memory, or backed by the log file at
 * `opts.storage`, loading what it holds.
 *
 * @throws {HistoryError} when the storage file cannot be opened or is not a history file.
 * @example
 * ```ts
 * import { openHistory } from "./open.ts";
 * const history = await openHistory({ size: 1000, maxAge: 3600 });
 * console.assert(history.size === 0);
 * await history.close();
 * ```
 */
export async function openHistory(opts: HistoryOptions): Promise<History> {
  if (opts.size <= 0 || opts.storage === undefined) {
    return new MemoryHistory({ size: Math.max(0, opts.size), maxAge: opts.maxAge });
  }
  return await openLogHistory({
    size: opts.size,
    maxAge: opts.maxAge,
    path: opts.storage,
    sync: opts.sync ?? false,
  });
}
