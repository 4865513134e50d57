/**
 * Publish requests built once and restamped in place: each event changes only the path,
 * the send time `t` and the sequence number, so sending one costs a few byte stores
 * instead of building and encoding a string.
 *
 * @module
 */

const encoder = new TextEncoder();
const SPACE = 32;
/** Width of `t`: epoch ms with three decimals has 17 characters until the year 2286. */
const T_WIDTH = 17;
/** Width of `seq`, right-aligned with spaces (JSON allows whitespace before a value). */
const SEQ_WIDTH = 12;

/**
 * One publish request, `POST <path>` with a JSON body of exactly `bodyBytes` bytes:
 * `{"t":<send time, epoch ms>,"seq":<n>,"pad":"xx…"}` then `suffix`. `t` comes first so
 * subscribers find it without parsing the line. All paths given to
 * {@link EventRequest.stamp} must have the length of the one given here.
 *
 * @example
 * ```ts
 * import { EventRequest } from "./event_request.ts";
 * const req = new EventRequest("/t01", 100, "");
 * const text = new TextDecoder().decode(req.stamp(new TextEncoder().encode("/t02"), 1.5, 7));
 * const body = text.slice(text.indexOf("\r\n\r\n") + 4);
 * console.assert(text.startsWith("POST /t02 ") && body.length === 100);
 * console.assert(JSON.parse(body).t === 1.5 && JSON.parse(body).seq === 7);
 * ```
 */
export class EventRequest {
  /** The whole request; valid until the next {@link EventRequest.stamp}. */
  readonly bytes: Uint8Array;
  readonly #pathAt: number;
  readonly #pathLength: number;
  readonly #tAt: number;
  readonly #seqAt: number;

  constructor(path: string, bodyBytes: number, suffix: string) {
    const before = `{"t":${" ".repeat(T_WIDTH)},"seq":${" ".repeat(SEQ_WIDTH)},"pad":"`;
    const after = `"}${suffix}`;
    const pad = "x".repeat(Math.max(0, bodyBytes - before.length - after.length));
    const body = before + pad + after;
    const head = `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n` +
      `Content-Length: ${body.length}\r\n\r\n`;
    this.bytes = encoder.encode(head + body);
    this.#pathAt = 5;
    this.#pathLength = encoder.encode(path).length;
    this.#tAt = head.length + 5;
    this.#seqAt = this.#tAt + T_WIDTH + 7;
  }

  /** Writes `path` (pre-encoded), `t` and `seq` into the request and returns its bytes. */
  stamp(path: Uint8Array, t: number, seq: number): Uint8Array {
    if (path.length !== this.#pathLength) throw new Error("paths must have the same length");
    this.bytes.set(path, this.#pathAt);
    this.#write(t.toFixed(3), this.#tAt, T_WIDTH);
    this.#write(String(seq), this.#seqAt, SEQ_WIDTH);
    return this.bytes;
  }

  /** Writes ASCII `text` right-aligned in a field of `width` bytes at `at`. */
  #write(text: string, at: number, width: number): void {
    const pad = width - text.length;
    if (pad < 0) throw new Error(`${text} is wider than ${width} characters`);
    const bytes = this.bytes;
    for (let i = 0; i < pad; i++) bytes[at + i] = SPACE;
    for (let i = 0; i < text.length; i++) bytes[at + pad + i] = text.charCodeAt(i);
  }
}
