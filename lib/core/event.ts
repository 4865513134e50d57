/**
 * Events: the envelope the server adds to a published JSON object, time-ordered cursors,
 * and the wire bytes, built once per event and shared by every subscriber.
 *
 * @module
 */

import { allocShared, encodeShared, writeAscii } from "./bytes.ts";
import { type ObjectShape, scanObject } from "./json_scan.ts";

const NUL = new Uint8Array([0]);
const encoder = new TextEncoder();
const utf8 = new TextDecoder("utf-8", { fatal: true });

/** A published body that is not exactly one JSON object. */
export class PayloadError extends Error {
  override name = "PayloadError";
}

/** What history storage keeps of an event; enough to rebuild it exactly. */
export interface StoredEvent {
  cursor: string;
  /** Seconds since the epoch, as in `pubsub_timestamp`. */
  timestamp: number;
  topics: string[];
  path: string;
  private: boolean;
  /** The full JSON text sent to subscribers, envelope included, on one line. */
  json: string;
}

/** An event whose line is already encoded; its JSON text is decoded when first asked for. */
export interface EncodedEvent extends Omit<StoredEvent, "json" | "topics"> {
  /** Frozen arrays are kept as they are, not copied. */
  topics: readonly string[];
  /** The JSON text in UTF-8 followed by `\n`. */
  line: Uint8Array;
}

/**
 * One accepted event. The JSON text and its framings are computed once and shared; the
 * object is immutable once built.
 */
export class Event {
  /** Time-ordered UUIDv7, also `pubsub_cursor`. */
  readonly cursor: string;
  /** Seconds since the epoch (float), also `pubsub_timestamp`. */
  readonly timestamp: number;
  /** Topics without the `private` marker, as published (repeats kept, like PyPubSub). */
  readonly topics: readonly string[];
  /** The path as published, decoded, including a leading `/private`. */
  readonly path: string;
  /** Published under `/private/...`: only for subscribers whose ACL covers it. */
  readonly private: boolean;
  /** `json + "\n"`, the NDJSON framing. */
  readonly line: Uint8Array;
  #json: string | undefined;
  #oldschool: Uint8Array | undefined;
  #sse: Uint8Array | undefined;
  #message: Uint8Array | undefined;
  #topicSet: ReadonlySet<string> | undefined;

  constructor(event: StoredEvent | EncodedEvent) {
    this.cursor = event.cursor;
    this.timestamp = event.timestamp;
    this.topics = Object.isFrozen(event.topics) ? event.topics : Object.freeze([...event.topics]);
    this.path = event.path;
    this.private = event.private;
    if ("line" in event) {
      this.line = event.line;
    } else {
      this.#json = event.json;
      this.line = encodeShared(event.json + "\n");
    }
  }

  /**
   * The JSON text with the envelope, without a line terminator. Events built from a
   * request's bytes decode it on first use: the hot path needs only {@link line}.
   */
  get json(): string {
    return this.#json ??= utf8.decode(this.line.subarray(0, this.line.length - 1));
  }

  /** `json + "\n\0"`: the framing PyPubSub's "oldschool" clients expect. */
  get oldschoolLine(): Uint8Array {
    if (!this.#oldschool) {
      const bytes = new Uint8Array(this.line.length + 1);
      bytes.set(this.line);
      bytes.set(NUL, this.line.length);
      this.#oldschool = bytes;
    }
    return this.#oldschool;
  }

  /** `id: <cursor>`, `data: <json>` and a blank line: one Server-Sent Event. */
  get sseFrame(): Uint8Array {
    return this.#sse ??= encodeShared(`id: ${this.cursor}\ndata: ${this.json}\n\n`);
  }

  /** The JSON text's bytes without the newline: one WebSocket text message (a view of `line`). */
  get message(): Uint8Array {
    return this.#message ??= this.line.subarray(0, this.line.byteLength - 1);
  }

  /** The topics as a set, for subset checks; built once, shared by every subscriber. */
  get topicSet(): ReadonlySet<string> {
    return this.#topicSet ??= new Set(this.topics);
  }

  /** The fields storage keeps. */
  toStored(): StoredEvent {
    return {
      cursor: this.cursor,
      timestamp: this.timestamp,
      topics: [...this.topics],
      path: this.path,
      private: this.private,
      json: this.json,
    };
  }
}

/** Where an event is published: parsed from the request path. */
export interface PublishTarget {
  /** Decoded path, e.g. `/private/git/repo`. */
  readonly path: string;
  /** Topics without the leading `private` marker. */
  readonly topics: readonly string[];
  readonly private: boolean;
}

/**
 * Builds an event from a published body, adding `pubsub_timestamp`, `pubsub_topics`,
 * `pubsub_path` and `pubsub_cursor` (overwriting any the publisher sent). Key order,
 * unicode, whitespace and number literals reach subscribers exactly as sent; only line
 * breaks between tokens are dropped, so that the event stays one line.
 *
 * A body in bytes is checked once and the envelope spliced in after its last member,
 * without decoding or parsing it. Only a body that sets a `pubsub_` key at the top level
 * is parsed and serialised again, so that the server's fields replace the publisher's.
 *
 * @param body the body as received (UTF-8), or as text.
 * @param cursor the event's `pubsub_cursor`; a new one for `nowMs` unless given (the
 * cluster bus derives it from the Redis stream entry).
 * @throws {PayloadError} when `body` is not exactly one JSON object in valid UTF-8.
 * @example
 * ```ts
 * import { buildEvent } from "./event.ts";
 * const ev = buildEvent({ path: "/a/b", topics: ["a", "b"], private: false }, '{"n":1}');
 * console.assert(ev.json.startsWith('{"n":1,"pubsub_timestamp":'));
 * ```
 */
export function buildEvent(
  target: PublishTarget,
  body: string | Uint8Array,
  nowMs = Date.now(),
  cursor = newCursor(nowMs),
): Event {
  const bytes = typeof body === "string" ? encoder.encode(body) : body;
  const shape = scanObject(bytes);
  const timestamp = nowMs / 1000;
  const { topics, path } = target;
  if (shape === null || shape.envelopeKey) {
    const value = parseObject(typeof body === "string" ? body : decode(bytes));
    const json = JSON.stringify(Object.assign(value, {
      pubsub_timestamp: timestamp,
      pubsub_topics: topics,
      pubsub_path: path,
      pubsub_cursor: cursor,
    }));
    return new Event({
      cursor,
      timestamp,
      topics: [...topics],
      path,
      private: target.private,
      json,
    });
  }
  const line = spliced(bytes, shape, target, timestamp, cursor);
  return new Event({ cursor, timestamp, topics, path, private: target.private, line });
}

/**
 * Checks a published body as {@link buildEvent} does, without building the event: for a
 * publish whose envelope is added later (by every node reading the cluster bus).
 *
 * @returns the body as text.
 * @throws {PayloadError} when `body` is not exactly one JSON object in valid UTF-8.
 * @example
 * ```ts
 * import { checkPayload } from "./event.ts";
 * console.assert(checkPayload(new TextEncoder().encode('{"n":1}')) === '{"n":1}');
 * ```
 */
export function checkPayload(body: string | Uint8Array): string {
  const text = typeof body === "string" ? body : decode(body);
  parseObject(text);
  return text;
}

function decode(bytes: Uint8Array): string {
  try {
    return utf8.decode(bytes);
  } catch {
    throw new PayloadError("body is not valid UTF-8");
  }
}

/** `"pubsub_topics":[…],"pubsub_path":"…"` of a target, in UTF-8, made once per target. */
const targetFields = new WeakMap<PublishTarget, Uint8Array>();

function targetFieldsOf(target: PublishTarget): Uint8Array {
  let fields = targetFields.get(target);
  if (!fields) {
    fields = encoder.encode(
      `"pubsub_topics":${JSON.stringify(target.topics)},"pubsub_path":${
        JSON.stringify(target.path)
      }`,
    );
    targetFields.set(target, fields);
  }
  return fields;
}

const TIMESTAMP_KEY = '"pubsub_timestamp":';
const CURSOR_KEY = ',"pubsub_cursor":"';
const LINE_END = '"}\n';

/**
 * The event line: the body's bytes up to its closing brace (line breaks left out), the
 * envelope, the brace and a newline, in one slice of the shared slab.
 */
function spliced(
  body: Uint8Array,
  shape: ObjectShape,
  target: PublishTarget,
  timestamp: number,
  cursor: string,
): Uint8Array {
  const { open, close } = shape;
  const fields = targetFieldsOf(target);
  const time = String(timestamp);
  const kept = shape.lineBreaks ? withoutLineBreaks(body, open, close) : close - open;
  const length = kept + (shape.empty ? 0 : 1) + TIMESTAMP_KEY.length + time.length + 1 +
    fields.length + CURSOR_KEY.length + cursor.length + LINE_END.length;
  const line = allocShared(length);
  let at = kept;
  if (shape.lineBreaks) copyWithoutLineBreaks(body, open, close, line);
  // The bytes after the closing brace are overwritten below; copying them too saves a view.
  else if (open === 0 && body.length <= length) line.set(body);
  else line.set(body.subarray(open, close));
  if (!shape.empty) line[at++] = 0x2c;
  at = writeAscii(line, at, TIMESTAMP_KEY);
  at = writeAscii(line, at, time);
  line[at++] = 0x2c;
  line.set(fields, at);
  at = writeAscii(line, at + fields.length, CURSOR_KEY);
  at = writeAscii(line, at, cursor);
  writeAscii(line, at, LINE_END);
  return line;
}

function isLineBreak(c: number): boolean {
  return c === 0x0a || c === 0x0d;
}

function withoutLineBreaks(body: Uint8Array, from: number, to: number): number {
  let n = 0;
  for (let i = from; i < to; i++) if (!isLineBreak(body[i]!)) n++;
  return n;
}

/** Copies `body[from, to)` to the start of `into`, leaving out CR and LF. */
function copyWithoutLineBreaks(body: Uint8Array, from: number, to: number, into: Uint8Array) {
  let at = 0;
  for (let i = from; i < to; i++) if (!isLineBreak(body[i]!)) into[at++] = body[i]!;
}

// `JSON.rawJSON` and `JSON.isRawJSON` are in V8 but not yet in TypeScript's lib files.
const { rawJSON, isRawJSON } = JSON as unknown as {
  rawJSON(text: string): unknown;
  isRawJSON(value: unknown): boolean;
};

/** Number literals are kept as their source text, so 12345678901234567890 stays exact. */
function keepNumberSource(_key: string, value: unknown, ctx?: { source?: string }): unknown {
  return typeof value === "number" && ctx?.source !== undefined ? rawJSON(ctx.source) : value;
}

function parseObject(body: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(body, keepNumberSource);
  } catch (err) {
    throw new PayloadError(`body is not valid JSON: ${(err as Error).message}`);
  }
  if (value === null || typeof value !== "object" || Array.isArray(value) || isRawJSON(value)) {
    const kind = value === null
      ? "null"
      : Array.isArray(value)
      ? "an array"
      : isRawJSON(value)
      ? "number"
      : typeof value;
    throw new PayloadError(`body must be a JSON object {...}, got ${kind}`);
  }
  return value as Record<string, unknown>;
}

// UUIDv7 (RFC 9562) with a 12-bit counter in rand_a, so cursors made in the same
// millisecond still sort in publish order.
let lastMs = 0;
let counter = 0;
/** The first two groups for `lastMs`, shared by the cursors of one millisecond. */
let timeGroups = "";
// Random bytes are drawn 4 KiB at a time: one call per 512 cursors instead of one each.
const pool = new Uint8Array(4096);
let poolAt = pool.length;
const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

/**
 * A new cursor: a UUIDv7 whose time is `nowMs` (or later, to stay strictly increasing).
 *
 * @example
 * ```ts
 * import { newCursor } from "./event.ts";
 * const a = newCursor(), b = newCursor();
 * console.assert(a < b);
 * ```
 */
export function newCursor(nowMs = Date.now()): string {
  if (nowMs > lastMs) {
    setCursorTime(nowMs);
  } else if (++counter > 0xfff) {
    setCursorTime(lastMs + 1);
  }
  if (poolAt === pool.length) {
    crypto.getRandomValues(pool);
    poolAt = 0;
  }
  const r = poolAt;
  poolAt += 8;
  const a = (0x7000 | counter).toString(16);
  const b = HEX[0x80 | (pool[r]! & 0x3f)]! + HEX[pool[r + 1]!]!;
  let tail = "";
  for (let i = r + 2; i < r + 8; i++) tail += HEX[pool[i]!]!;
  return `${timeGroups}${a}-${b}-${tail}`;
}

function setCursorTime(ms: number): void {
  lastMs = ms;
  counter = 0;
  const t = ms.toString(16).padStart(12, "0");
  timeGroups = `${t.slice(0, 8)}-${t.slice(8)}-`;
}

const CURSOR_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** True for a well-formed UUIDv7 cursor as made by {@link newCursor}. */
export function isCursor(value: string): boolean {
  return CURSOR_RE.test(value);
}

/** The millisecond timestamp inside a cursor. */
export function cursorTimeMs(cursor: string): number {
  return parseInt(cursor.slice(0, 8) + cursor.slice(9, 13), 16);
}
