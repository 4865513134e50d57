/**
 * Shared helpers for the history tests: events with chosen timestamps, and each history
 * backend opened in a temp dir and closed (with the dir removed) after the test.
 *
 * @module
 */

import { buildEvent, type Event } from "../lib/core/event.ts";
import type { History, HistoryOptions } from "../lib/history/history.ts";
import { openHistory } from "../lib/history/open.ts";
import { configureLog } from "../lib/log.ts";

const target = { path: "/fruits/apples", topics: ["fruits", "apples"], private: false };

/** An event with body `{"n": n}`, published at `nowMs`. */
export function event(n: number, nowMs = Date.now()): Event {
  return buildEvent(target, `{"n":${n}}`, nowMs);
}

/** The `n` field of each event. */
export function ns(events: readonly Event[]): number[] {
  return events.map((ev) => (JSON.parse(ev.json) as { n: number }).n);
}

/** A history backend under test. */
export interface Backend {
  name: string;
  /** Opens a history; `storage` is set for durable backends. */
  open(opts: Omit<HistoryOptions, "storage">, dir: string): Promise<History>;
}

/** Every backend; the shared suite runs over each. */
export const backends: Backend[] = [
  { name: "memory", open: (opts) => openHistory(opts) },
  {
    name: "log",
    open: (opts, dir) => openHistory({ ...opts, storage: `${dir}/history.log` }),
  },
  {
    name: "log sync",
    open: (opts, dir) => openHistory({ ...opts, storage: `${dir}/history.log`, sync: true }),
  },
];

/** Runs `fn` in a fresh temp dir, removed afterwards. */
export async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "history_test_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Opens a history of `backend` in a temp dir, runs `fn` and closes it. */
export function withHistory(
  backend: Backend,
  opts: Omit<HistoryOptions, "storage">,
  fn: (history: History) => Promise<void> | void,
): Promise<void> {
  return withTempDir(async (dir) => {
    const history = await backend.open(opts, dir);
    try {
      await fn(history);
    } finally {
      await history.close();
    }
  });
}

/**
 * Runs `fn` with log lines from `info` up captured instead of written, returning the
 * lines; the log settings before are restored.
 */
export async function captureLog(fn: () => Promise<void>): Promise<string[]> {
  const lines: string[] = [];
  const before = configureLog({ level: "info", write: (line) => lines.push(line) });
  try {
    await fn();
  } finally {
    configureLog(before);
  }
  return lines;
}

/** One `FsFile.syncData()` call that completed. */
export interface SyncCall {
  /** The file's length when the call began: every byte below it is on disk. */
  readonly size: number;
  /** `performance.now()` when the call completed. */
  readonly done: number;
}

/** The syncs recorded by {@link watchSyncs}; disposing it stops recording. */
export interface SyncWatch extends Disposable {
  readonly calls: readonly SyncCall[];
}

/**
 * Records every `FsFile.syncData()` call made in this process until disposed (`using`).
 * Each call still goes to the real file; this only notes how much of the file it covered
 * and when it completed, before the caller learns that it did.
 */
export function watchSyncs(): SyncWatch {
  const proto = Deno.FsFile.prototype;
  const real = proto.syncData;
  const calls: SyncCall[] = [];
  proto.syncData = async function (this: Deno.FsFile): Promise<void> {
    const size = this.statSync().size;
    await real.call(this);
    calls.push({ size, done: performance.now() });
  };
  return {
    calls,
    [Symbol.dispose]: () => {
      proto.syncData = real;
    },
  };
}

/** The file's length once its text includes `needle` (a cursor), read after the fact. */
export async function endOf(path: string, needle: string): Promise<number> {
  const bytes = await Deno.readFile(path);
  const text = new TextDecoder().decode(bytes);
  const at = text.indexOf(needle);
  if (at < 0) throw new Error(`${path} does not hold ${needle}`);
  const lineEnd = text.indexOf("\n", at);
  return new TextEncoder().encode(text.slice(0, lineEnd < 0 ? text.length : lineEnd + 1)).length;
}
