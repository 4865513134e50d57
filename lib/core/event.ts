/**
 * Events: the envelope the server adds to a published JSON object, time-ordered cursors,
 * and the wire bytes, built once per event and shared by every subscriber.
 *
 * @module
 */

import { encodeShared } from "./bytes.ts";

const NUL = new Uint8Array([0]);

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
  /** The JSON text with the envelope, without a line terminator. */
  readonly json: string;
  /** `json + "\n"`, the NDJSON framing. */
  readonly line: Uint8Array;
  #oldschool: Uint8Array | undefined;
  #sse: Uint8Array | undefined;
  #message: Uint8Array | undefined;
  #topicSet: ReadonlySet<string> | undefined;

  constructor(stored: StoredEvent) {
    this.cursor = stored.cursor;
    this.timestamp = stored.timestamp;
    this.topics = Object.freeze([...stored.topics]);
    this.path = stored.path;
    this.private = stored.private;
    this.json = stored.json;
    this.line = encodeShared(stored.json + "\n");
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
  path: string;
  /** Topics without the leading `private` marker. */
  topics: string[];
  private: boolean;
}

/**
 * Builds an event from a published body, adding `pubsub_timestamp`, `pubsub_topics`,
 * `pubsub_path` and `pubsub_cursor` (overwriting any the publisher sent). Key order,
 * unicode and number literals reach subscribers exactly as sent.
 *
 * @param cursor the event's `pubsub_cursor`; a new one for `nowMs` unless given (the
 * cluster bus derives it from the Redis stream entry).
 * @throws {PayloadError} when `body` is not exactly one JSON object.
 * @example
 * ```ts
 * import { buildEvent } from "./event.ts";
 * const ev = buildEvent({ path: "/a/b", topics: ["a", "b"], private: false }, '{"n":1}');
 * console.assert(ev.json.startsWith('{"n":1,"pubsub_timestamp":'));
 * ```
 */
export function buildEvent(
  target: PublishTarget,
  body: string,
  nowMs = Date.now(),
  cursor = newCursor(nowMs),
): Event {
  const timestamp = nowMs / 1000;
  return new Event({
    cursor,
    timestamp,
    topics: target.topics,
    path: target.path,
    private: target.private,
    json: withEnvelope(body, target, timestamp, cursor),
  });
}

function withEnvelope(body: string, target: PublishTarget, timestamp: number, cursor: string) {
  // Fast path: the publisher's text is kept byte for byte and the envelope appended. It
  // applies when the text cannot break NDJSON framing and sets no envelope key itself.
  if (!/[\n\r]|pubsub_/.test(body)) {
    const value = parseObject(body, false);
    const text = body.trim();
    const envelope = `"pubsub_timestamp":${timestamp},"pubsub_topics":${
      JSON.stringify(target.topics)
    },"pubsub_path":${JSON.stringify(target.path)},"pubsub_cursor":"${cursor}"}`;
    return text.slice(0, -1) + (isEmpty(value) ? "" : ",") + envelope;
  }
  return JSON.stringify(Object.assign(parseObject(body, true), {
    pubsub_timestamp: timestamp,
    pubsub_topics: target.topics,
    pubsub_path: target.path,
    pubsub_cursor: cursor,
  }));
}

/**
 * Checks a published body as {@link buildEvent} does, without building the event: for a
 * publish whose envelope is added later (by every node reading the cluster bus).
 *
 * @throws {PayloadError} when `body` is not exactly one JSON object.
 * @example
 * ```ts
 * import { checkPayload } from "./event.ts";
 * checkPayload('{"n":1}');
 * ```
 */
export function checkPayload(body: string): void {
  parseObject(body, false);
}

function isEmpty(value: object): boolean {
  for (const _ in value) return false;
  return true;
}

// `JSON.rawJSON` is in V8 but not yet in TypeScript's lib files.
const rawJSON = (JSON as unknown as { rawJSON(text: string): unknown }).rawJSON;

/** Number literals are kept as their source text, so 12345678901234567890 stays exact. */
function keepNumberSource(_key: string, value: unknown, ctx?: { source?: string }): unknown {
  return typeof value === "number" && ctx?.source !== undefined ? rawJSON(ctx.source) : value;
}

function parseObject(body: string, exactNumbers: boolean): Record<string, unknown> {
  let value: unknown;
  try {
    value = exactNumbers ? JSON.parse(body, keepNumberSource) : JSON.parse(body);
  } catch (err) {
    throw new PayloadError(`body is not valid JSON: ${(err as Error).message}`);
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    const kind = value === null ? "null" : Array.isArray(value) ? "an array" : typeof value;
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
