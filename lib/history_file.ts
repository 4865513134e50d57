/**
 * The history file format and its reader. The first line is a header naming the format;
 * then one record per line: a small JSON header, a tab, and the event's JSON text exactly
 * as sent to subscribers:
 *
 * ```text
 * {"format":"denopubsub-history","version":1,"horizon":"0190f1c2-5a3b-"}
 * {"cursor":"0190f1c2-5a3b-7000-8a1b-0123456789ab","timestamp":1720000000.123,"topics":["a"],"path":"/a","private":false,"bytes":97}\t{"n":1,"pubsub_timestamp":...}
 * ```
 *
 * Only the small header is parsed on load; `bytes` (the UTF-8 length of the JSON text)
 * and the line framing catch torn and corrupt records.
 *
 * @module
 */

import { Event, isCursor, type StoredEvent } from "./event.ts";
import { MemoryHistory } from "./history_memory.ts";

const FORMAT = "denopubsub-history";
const VERSION = 1;
const TAB = 0x09;
const NL = 0x0a;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const CHUNK = 1 << 20;

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { ignoreBOM: true });

/** The first line of a history file; `horizon` as in {@link MemoryHistory.horizon}. */
export function headerLine(horizon: string): Uint8Array {
  return encoder.encode(JSON.stringify({ format: FORMAT, version: VERSION, horizon }) + "\n");
}

/** Appends the records of `events` to `parts`, returning the bytes added. */
export function encodeRecords(events: readonly Event[], parts: Uint8Array[]): number {
  let bytes = 0;
  for (const ev of events) {
    const head = encoder.encode(
      JSON.stringify({
        cursor: ev.cursor,
        timestamp: ev.timestamp,
        topics: ev.topics,
        path: ev.path,
        private: ev.private,
        bytes: ev.line.length - 1,
      }) + "\t",
    );
    parts.push(head, ev.line);
    bytes += head.length + ev.line.length;
  }
  return bytes;
}

/** Joins byte arrays into one. */
export function concat(parts: readonly Uint8Array[]): Uint8Array {
  let length = 0;
  for (const p of parts) length += p.length;
  const out = new Uint8Array(length);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** What the first line of a file says it is. */
export type FileKind = "empty" | "history" | "pypubsub" | "foreign";

/** A history file read into memory. */
export interface LoadedHistory {
  kind: "history";
  index: MemoryHistory;
  /** Records in the file, retained or not. */
  records: number;
  /** Length of the file up to the end of its last valid record. */
  validBytes: number;
  /** Bytes of torn or corrupt records that were skipped. */
  skippedBytes: number;
}

/** Retention applied while loading. */
export interface LoadOptions {
  size: number;
  maxAge: number;
}

/**
 * Reads a history file from its start into a new {@link MemoryHistory}, applying
 * retention. Records that are torn, corrupt or out of order are skipped and counted.
 * A file whose first line is not a history header is reported by kind and not read on.
 */
export async function loadHistoryFile(
  file: Deno.FsFile,
  opts: LoadOptions,
): Promise<LoadedHistory | { kind: Exclude<FileKind, "history"> }> {
  const reader = new ChunkReader(file);
  const loader = new Loader(opts);
  for (let chunk = await reader.next(); chunk; chunk = await reader.next()) {
    if (!loader.feed(chunk)) break;
  }
  const { index } = loader;
  if (!index) return { kind: loader.kind ?? (reader.bytesRead === 0 ? "empty" : "foreign") };
  index.expire();
  return {
    kind: "history",
    index,
    records: loader.records,
    validBytes: loader.validBytes,
    skippedBytes: reader.bytesRead - loader.acceptedBytes,
  };
}

/** Complete lines read from a file: their bytes, their text, and where they start. */
interface Chunk {
  bytes: Uint8Array;
  text: string;
  offset: number;
}

/** Turns chunks into the header and records, keeping count of what was valid. */
class Loader {
  readonly #opts: LoadOptions;
  index: MemoryHistory | undefined;
  /** Set when the first line is not a history header. */
  kind: Exclude<FileKind, "history"> | undefined;
  records = 0;
  /** Bytes of the header and of valid records. */
  acceptedBytes = 0;
  /** File offset just past the last valid line. */
  validBytes = 0;

  constructor(opts: LoadOptions) {
    this.#opts = opts;
  }

  /** Takes in the lines of a chunk; false once the file turns out not to be a history. */
  feed({ bytes, text, offset }: Chunk): boolean {
    for (let b = 0, s = 0; b < bytes.length;) {
      const bnl = bytes.indexOf(NL, b);
      const snl = text.indexOf("\n", s);
      if (!this.index) {
        const kind = classify(text.slice(s, snl));
        if (kind.kind !== "history") {
          this.kind = kind.kind;
          return false;
        }
        this.index = new MemoryHistory({ ...this.#opts, horizon: kind.horizon });
        this.#accept(offset, b, bnl);
      } else {
        const stored = parseRecord(bytes, b, bnl, text.slice(s, snl), this.index.newest);
        if (stored) {
          this.index.add(new Event(stored));
          this.records++;
          this.#accept(offset, b, bnl);
        }
      }
      b = bnl + 1;
      s = snl + 1;
    }
    return true;
  }

  #accept(offset: number, start: number, nl: number): void {
    this.acceptedBytes += nl + 1 - start;
    this.validBytes = offset + nl + 1;
  }
}

function classify(
  line: string,
): { kind: "history"; horizon: string } | { kind: Exclude<FileKind, "history"> } {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return { kind: "foreign" };
  }
  if (typeof value !== "object" || value === null) return { kind: "foreign" };
  const v = value as Record<string, unknown>;
  if (v.format === FORMAT && v.version === VERSION && typeof v.horizon === "string") {
    return { kind: "history", horizon: v.horizon };
  }
  const pypubsub = typeof v.timestamp === "number" && Array.isArray(v.topics) &&
    typeof v.json === "object" && v.json !== null;
  return { kind: pypubsub ? "pypubsub" : "foreign" };
}

/**
 * The record in `bytes[start, nl)` (whose text is `line`) if it is valid and its cursor
 * is after `previous`.
 */
function parseRecord(
  bytes: Uint8Array,
  start: number,
  nl: number,
  line: string,
  previous: string,
): StoredEvent | undefined {
  const tab = bytes.indexOf(TAB, start);
  if (tab < 0 || tab > nl || bytes[tab + 1] !== OPEN_BRACE || bytes[nl - 1] !== CLOSE_BRACE) {
    return undefined;
  }
  const textTab = line.indexOf("\t");
  let head: unknown;
  try {
    head = JSON.parse(line.slice(0, textTab));
  } catch {
    return undefined;
  }
  if (!isRecordHead(head) || head.bytes !== nl - tab - 1 || head.cursor <= previous) {
    return undefined;
  }
  return {
    cursor: head.cursor,
    timestamp: head.timestamp,
    topics: head.topics,
    path: head.path,
    private: head.private,
    json: line.slice(textTab + 1),
  };
}

interface RecordHead {
  cursor: string;
  timestamp: number;
  topics: string[];
  path: string;
  private: boolean;
  bytes: number;
}

function isRecordHead(v: unknown): v is RecordHead {
  if (typeof v !== "object" || v === null) return false;
  const h = v as Record<string, unknown>;
  return typeof h.cursor === "string" && isCursor(h.cursor) &&
    typeof h.timestamp === "number" && Number.isFinite(h.timestamp) &&
    Array.isArray(h.topics) && h.topics.every((t) => typeof t === "string") &&
    typeof h.path === "string" && typeof h.private === "boolean" &&
    typeof h.bytes === "number";
}

/**
 * A file read in chunks of complete lines, each decoded in one go (decoding line by line
 * costs several times more). A last line without its newline (a torn write) is never
 * returned.
 */
class ChunkReader {
  readonly #file: Deno.FsFile;
  #rest: Uint8Array = new Uint8Array(0);
  #offset = 0;
  /** Bytes read from the file so far. */
  bytesRead = 0;

  constructor(file: Deno.FsFile) {
    this.#file = file;
  }

  /** The next run of complete lines, or undefined at the end of the file. */
  async next(): Promise<Chunk | undefined> {
    for (;;) {
      const data = new Uint8Array(this.#rest.length + CHUNK);
      data.set(this.#rest);
      const n = await this.#file.read(data.subarray(this.#rest.length));
      if (n === null) return undefined;
      this.bytesRead += n;
      const filled = data.subarray(0, this.#rest.length + n);
      const end = filled.lastIndexOf(NL) + 1;
      this.#rest = filled.subarray(end);
      if (end === 0) continue;
      const bytes = filled.subarray(0, end);
      const chunk = { bytes, text: decoder.decode(bytes), offset: this.#offset };
      this.#offset += end;
      return chunk;
    }
  }
}
