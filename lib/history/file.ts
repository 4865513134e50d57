/**
 * The history file format, its reader and the records it holds. The first line is a
 * header naming the format; then one record per line: the cursor, the timestamp, the
 * byte length of the event's JSON, the other fields as JSON, a tab, and the event's JSON
 * text exactly as sent to subscribers:
 *
 * ```text
 * {"format":"denopubsub-history","version":1,"horizon":"0190f1c2-5a3b-"}
 * 0190f1c2-5a3b-7000-8a1b-0123456789ab 1720000000.123 97 {"topics":["a"],"path":"/a","private":false}\t{"n":1,...}
 * ```
 *
 * Start-up reads only the cursor and timestamp of each record (a few fixed-position
 * fields, no JSON parsing); the rest is read from the file when an event is first
 * replayed. The length and the line framing catch torn and corrupt records.
 *
 * @module
 */

import { concat } from "../core/bytes.ts";
import { Event, isCursor } from "../core/event.ts";
import { type EventStub, MemoryHistory } from "./memory.ts";
import { errorMessage, log } from "../log.ts";

const FORMAT = "denopubsub-history";
const VERSION = 1;
const TAB = 0x09;
const NL = 0x0a;
const SPACE = 0x20;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const CURSOR_LENGTH = 36;
const CHUNK = 1 << 20;

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { ignoreBOM: true });

/** An event whose record is still only in the file, at `offset` (`length` bytes). */
export class FileRef implements EventStub {
  constructor(
    readonly cursor: string,
    readonly timestamp: number,
    /** Where the record starts; moves when a compaction rewrites the file. */
    public offset: number,
    /** Bytes of the record, newline included. */
    readonly length: number,
  ) {}
}

/** What the in-memory index holds for a log-backed history. */
export type Entry = Event | FileRef;

/** The first line of a history file; `horizon` as in {@link MemoryHistory.horizon}. */
export function headerLine(horizon: string): Uint8Array {
  return encoder.encode(JSON.stringify({ format: FORMAT, version: VERSION, horizon }) + "\n");
}

/** The record of `ev` up to and including the tab; `ev.line` completes it. */
function recordHead(ev: Event): Uint8Array {
  const meta = JSON.stringify({ topics: ev.topics, path: ev.path, private: ev.private });
  return encoder.encode(`${ev.cursor} ${ev.timestamp} ${ev.line.length - 1} ${meta}\t`);
}

/** Appends the records of `events` to `parts`, returning the bytes added. */
export function encodeRecords(events: readonly Event[], parts: Uint8Array[]): number {
  let bytes = 0;
  for (const ev of events) {
    const head = recordHead(ev);
    parts.push(head, ev.line);
    bytes += head.length + ev.line.length;
  }
  return bytes;
}

/** A record copied to a new file at `offset`, to be applied to `ref` once it is in use. */
export interface Moved {
  ref: FileRef;
  offset: number;
}

/**
 * The records of `entries` as one array, to be written at file offset `at`: encoded for
 * events, copied through `reader` for references, whose new offsets go to `moved`.
 */
export function encodeEntries(
  entries: readonly Entry[],
  reader: RecordReader,
  at: number,
  moved: Moved[],
): Uint8Array {
  const refs = entries.filter((e) => e instanceof FileRef);
  const copies = refs.length > 0 ? reader.records(refs) : [];
  const parts: Uint8Array[] = [];
  let copied = 0;
  for (const entry of entries) {
    if (entry instanceof FileRef) {
      const record = copies[copied++]!;
      moved.push({ ref: entry, offset: at });
      parts.push(record);
      at += record.length;
    } else {
      at += encodeRecords([entry], parts);
    }
  }
  return concat(parts);
}

/**
 * Reads records of the file that {@link FileRef}s point to. It has its own read-only
 * handle, so its seeks never move the position appends are written at.
 */
export class RecordReader {
  #file: Deno.FsFile;
  readonly #path: string;

  constructor(file: Deno.FsFile, path: string) {
    this.#file = file;
    this.#path = path;
  }

  /** The handle records are read through. */
  get file(): Deno.FsFile {
    return this.#file;
  }

  /** Reads from `file` from now on (after a compaction) and closes the previous one. */
  replace(file: Deno.FsFile): void {
    this.#file.close();
    this.#file = file;
  }

  close(): void {
    this.#file.close();
  }

  /**
   * The events `refs` point to, in order; undefined where a record cannot be read (one
   * log line per call says how many).
   */
  events(refs: readonly FileRef[]): (Event | undefined)[] {
    const out: (Event | undefined)[] = [];
    let failed = 0;
    for (const run of runs(refs)) {
      let text;
      try {
        text = decoder.decode(this.#read(run[0]!.offset, runLength(run)));
      } catch (err) {
        log.error("history: cannot read the storage file", {
          file: this.#path,
          error: errorMessage(err),
        });
        failed += run.length;
        out.push(...run.map(() => undefined));
        continue;
      }
      let at = 0;
      for (const ref of run) {
        const nl = text.indexOf("\n", at);
        const ev = parseRecord(ref, text.slice(at, nl));
        if (!ev) failed++;
        out.push(ev);
        at = nl + 1;
      }
    }
    if (failed > 0) {
      log.warn("history: skipped unreadable records", { file: this.#path, records: failed });
    }
    return out;
  }

  /** The bytes of each record `refs` point to, in order. */
  records(refs: readonly FileRef[]): Uint8Array[] {
    const out: Uint8Array[] = [];
    for (const run of runs(refs)) {
      const bytes = this.#read(run[0]!.offset, runLength(run));
      let at = 0;
      for (const ref of run) {
        out.push(bytes.subarray(at, at + ref.length));
        at += ref.length;
      }
    }
    return out;
  }

  #read(offset: number, length: number): Uint8Array {
    const bytes = new Uint8Array(length);
    this.#file.seekSync(offset, Deno.SeekMode.Start);
    for (let at = 0; at < length;) {
      const n = this.#file.readSync(bytes.subarray(at));
      if (n === null) throw new Error(`the file ends before offset ${offset + length}`);
      at += n;
    }
    return bytes;
  }
}

/** Splits refs into runs of records that follow each other in the file. */
function* runs(refs: readonly FileRef[]): Generator<FileRef[]> {
  let run: FileRef[] = [];
  for (const ref of refs) {
    const last = run.at(-1);
    if (last && (last.offset + last.length !== ref.offset || runLength(run) >= CHUNK)) {
      yield run;
      run = [];
    }
    run.push(ref);
  }
  if (run.length > 0) yield run;
}

function runLength(run: readonly FileRef[]): number {
  const last = run.at(-1)!;
  return last.offset + last.length - run[0]!.offset;
}

/** The event in record `line` (without its newline), or undefined when it is corrupt. */
function parseRecord(ref: FileRef, line: string): Event | undefined {
  const metaStart = line.indexOf(" ", line.indexOf(" ", CURSOR_LENGTH + 1) + 1) + 1;
  const tab = line.indexOf("\t", metaStart);
  let meta: unknown;
  try {
    meta = JSON.parse(line.slice(metaStart, tab));
  } catch {
    return undefined;
  }
  if (!isMeta(meta) || line.slice(0, CURSOR_LENGTH) !== ref.cursor) return undefined;
  return new Event({
    cursor: ref.cursor,
    timestamp: ref.timestamp,
    topics: meta.topics,
    path: meta.path,
    private: meta.private,
    json: line.slice(tab + 1),
  });
}

interface Meta {
  topics: string[];
  path: string;
  private: boolean;
}

function isMeta(v: unknown): v is Meta {
  if (typeof v !== "object" || v === null) return false;
  const m = v as Record<string, unknown>;
  return Array.isArray(m.topics) && m.topics.every((t) => typeof t === "string") &&
    typeof m.path === "string" && typeof m.private === "boolean";
}

/** What the first line of a file says it is. */
export type FileKind = "empty" | "history" | "pypubsub" | "foreign";

/** A history file read into memory. */
export interface LoadedHistory {
  kind: "history";
  index: MemoryHistory<FileRef>;
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
 * Reads a history file from its start through `reader` into a new index of
 * {@link FileRef}s, applying retention. Records that are torn, corrupt or out of order
 * are skipped and counted. A file whose first line is not a history header is reported
 * by kind and not read on.
 */
export async function loadHistoryFile(
  reader: RecordReader,
  opts: LoadOptions,
): Promise<LoadedHistory | { kind: Exclude<FileKind, "history"> }> {
  const chunks = new ChunkReader(reader.file);
  const loader = new Loader(opts, (stubs) => reader.events(stubs));
  for (let chunk = await chunks.next(); chunk; chunk = await chunks.next()) {
    if (!loader.feed(chunk)) break;
  }
  const { index } = loader;
  if (!index) return { kind: loader.kind ?? (chunks.bytesRead === 0 ? "empty" : "foreign") };
  index.expire();
  return {
    kind: "history",
    index,
    records: loader.records,
    validBytes: loader.validBytes,
    skippedBytes: chunks.bytesRead - loader.acceptedBytes,
  };
}

/** Complete lines read from a file, and the file offset they start at. */
interface Chunk {
  bytes: Uint8Array;
  offset: number;
}

/** Turns chunks into the header and record references, counting what was valid. */
class Loader {
  readonly #opts: LoadOptions;
  readonly #fetch: (stubs: FileRef[]) => (Event | undefined)[];
  index: MemoryHistory<FileRef> | undefined;
  /** Set when the first line is not a history header. */
  kind: Exclude<FileKind, "history"> | undefined;
  records = 0;
  /** Bytes of the header and of valid records. */
  acceptedBytes = 0;
  /** File offset just past the last valid line. */
  validBytes = 0;

  constructor(opts: LoadOptions, fetch: (stubs: FileRef[]) => (Event | undefined)[]) {
    this.#opts = opts;
    this.#fetch = fetch;
  }

  /** Takes in the lines of a chunk; false once the file turns out not to be a history. */
  feed({ bytes, offset }: Chunk): boolean {
    for (let start = 0; start < bytes.length;) {
      const nl = bytes.indexOf(NL, start);
      if (!this.index) {
        const kind = classify(decoder.decode(bytes.subarray(start, nl)));
        if (kind.kind !== "history") {
          this.kind = kind.kind;
          return false;
        }
        this.index = new MemoryHistory({
          ...this.#opts,
          horizon: kind.horizon,
          fetch: this.#fetch,
        });
        this.#accept(offset, start, nl);
      } else {
        const ref = scanRecord(bytes, start, nl, offset, this.index.newest);
        if (ref) {
          this.index.add(ref);
          this.records++;
          this.#accept(offset, start, nl);
        }
      }
      start = nl + 1;
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
 * A reference to the record in `bytes[start, nl)` when its framing is intact and its
 * cursor is after `previous`; `offset` is the file offset of `bytes`.
 */
function scanRecord(
  bytes: Uint8Array,
  start: number,
  nl: number,
  offset: number,
  previous: string,
): FileRef | undefined {
  const cursorEnd = start + CURSOR_LENGTH;
  if (nl - start < CURSOR_LENGTH + 8 || bytes[cursorEnd] !== SPACE) return undefined;
  const timeEnd = bytes.indexOf(SPACE, cursorEnd + 1);
  const lengthEnd = timeEnd < 0 ? -1 : bytes.indexOf(SPACE, timeEnd + 1);
  if (lengthEnd < 0 || lengthEnd > nl) return undefined;
  const cursor = ascii(bytes, start, cursorEnd);
  const timestamp = Number(ascii(bytes, cursorEnd + 1, timeEnd));
  const jsonLength = Number(ascii(bytes, timeEnd + 1, lengthEnd));
  const tab = nl - jsonLength - 1;
  const framed = timeEnd > cursorEnd + 1 && Number.isFinite(timestamp) &&
    Number.isInteger(jsonLength) && jsonLength > 1 && tab > lengthEnd + 1 &&
    bytes[tab] === TAB && bytes[lengthEnd + 1] === OPEN_BRACE &&
    bytes[tab - 1] === CLOSE_BRACE && bytes[tab + 1] === OPEN_BRACE &&
    bytes[nl - 1] === CLOSE_BRACE;
  if (!framed || !isCursor(cursor) || cursor <= previous) return undefined;
  return new FileRef(cursor, timestamp, offset + start, nl + 1 - start);
}

/** Bytes as a string, one char per byte: enough for the ASCII fields it is used on. */
function ascii(bytes: Uint8Array, start: number, end: number): string {
  return String.fromCharCode.apply(null, bytes.subarray(start, end) as unknown as number[]);
}

/**
 * A file read in chunks of complete lines through one reused buffer: a chunk is valid
 * until the next call. A last line without its newline (a torn write) is never returned.
 */
class ChunkReader {
  readonly #file: Deno.FsFile;
  #buffer = new Uint8Array(CHUNK);
  /** Bytes in the buffer. */
  #filled = 0;
  /** Bytes at the start of the buffer already returned. */
  #returned = 0;
  #offset = 0;
  /** Bytes read from the file so far. */
  bytesRead = 0;

  constructor(file: Deno.FsFile) {
    this.#file = file;
  }

  /** The next run of complete lines, or undefined at the end of the file. */
  async next(): Promise<Chunk | undefined> {
    this.#buffer.copyWithin(0, this.#returned, this.#filled);
    this.#filled -= this.#returned;
    this.#returned = 0;
    for (;;) {
      if (this.#filled === this.#buffer.length) this.#grow();
      const n = await this.#file.read(this.#buffer.subarray(this.#filled));
      if (n === null) return undefined;
      this.bytesRead += n;
      const start = this.#filled;
      this.#filled += n;
      const nl = this.#buffer.subarray(start, this.#filled).lastIndexOf(NL);
      if (nl < 0) continue;
      this.#returned = start + nl + 1;
      const chunk = { bytes: this.#buffer.subarray(0, this.#returned), offset: this.#offset };
      this.#offset += this.#returned;
      return chunk;
    }
  }

  /** Makes room for a line longer than the buffer. */
  #grow(): void {
    const buffer = new Uint8Array(this.#buffer.length * 2);
    buffer.set(this.#buffer);
    this.#buffer = buffer;
  }
}
