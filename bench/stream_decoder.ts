/**
 * Decodes one subscriber's HTTP/1.1 response as it arrives: the status line and headers,
 * then a chunked (or read-until-close) body of newline-delimited JSON. Lines are not
 * parsed as JSON: the decoder finds the `"t":` send timestamp near the start of each line,
 * which keeps a single core able to read hundreds of thousands of events per second.
 *
 * @module
 */

/** Receives what the decoder finds. */
export interface StreamSink {
  /** The response head is complete. */
  head(status: number): void;
  /** One line carried a send timestamp `t` (epoch ms); it arrived at `recvMs`. */
  event(t: number, recvMs: number): void;
  /** One line without a timestamp, such as `{"stillalive": …}`. */
  other(): void;
}

/** How far into a line the timestamp is looked for; the rest of the line is skipped. */
const LINE_HEAD = 320;
const MAX_RESPONSE_HEAD = 16384;
const LF = 10;
const CR = 13;
const QUOTE = 34;
const SPACE = 32;
const T = 116;
const COLON = 58;
const DOT = 46;
const ZERO = 48;
const NINE = 57;

enum State {
  Head,
  ChunkSize,
  ChunkExt,
  ChunkData,
  ChunkEnd,
  Identity,
  Done,
}

/**
 * Parses the epoch-ms number after the first `"t":` in `buf[start, end)`, or returns NaN.
 * Only plain decimals are read (`123.456`), which is what the load generator sends.
 */
export function findTimestamp(buf: Uint8Array, start: number, end: number): number {
  const stop = Math.min(end, start + LINE_HEAD) - 3;
  for (let i = start; i < stop; i++) {
    if (buf[i] === QUOTE && buf[i + 1] === T && buf[i + 2] === QUOTE && buf[i + 3] === COLON) {
      return parseDecimal(buf, i + 4, end);
    }
  }
  return NaN;
}

function parseDecimal(buf: Uint8Array, start: number, end: number): number {
  let i = start;
  while (i < end && buf[i] === SPACE) i++;
  let value = 0;
  let digits = 0;
  for (; i < end; i++) {
    const c = buf[i]!;
    if (c < ZERO || c > NINE) break;
    value = value * 10 + (c - ZERO);
    digits++;
  }
  if (i < end && buf[i] === DOT) {
    let scale = 1;
    for (i++; i < end; i++) {
      const c = buf[i]!;
      if (c < ZERO || c > NINE) break;
      scale /= 10;
      value += (c - ZERO) * scale;
      digits++;
    }
  }
  return digits > 0 ? value : NaN;
}

/**
 * The incremental decoder of one subscriber connection. Feed it every read with
 * {@link StreamDecoder.push}; it calls the sink once per line.
 *
 * @example
 * ```ts
 * import { StreamDecoder } from "./stream_decoder.ts";
 * const times: number[] = [];
 * const d = new StreamDecoder({ head() {}, event: (t) => times.push(t), other() {} });
 * const wire = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n9\r\n{"t":1.5}\n\r\n';
 * d.push(new TextEncoder().encode(wire), 0);
 * console.assert(times[0] === 1.5);
 * ```
 */
export class StreamDecoder {
  #sink: StreamSink;
  #state = State.Head;
  #head: number[] = [];
  #chunkLeft = 0;
  /** The start of a line split over reads or chunks, up to {@link LINE_HEAD} bytes. */
  #line = new Uint8Array(LINE_HEAD);
  #lineLen = 0;
  #inLine = false;
  /** HTTP status of the response, 0 until the head is read. */
  status = 0;

  constructor(sink: StreamSink) {
    this.#sink = sink;
  }

  /** True once a chunked body has ended with its zero-size chunk. */
  get done(): boolean {
    return this.#state === State.Done;
  }

  /** Decodes `buf[0, n)`, which arrived at `recvMs` (epoch ms). */
  push(buf: Uint8Array, recvMs: number, n = buf.length): void {
    let i = 0;
    while (i < n) {
      switch (this.#state) {
        case State.Head:
          i = this.#readHead(buf, i, n);
          break;
        case State.ChunkSize:
          i = this.#readChunkSize(buf, i, n);
          break;
        case State.ChunkExt:
          for (; i < n && buf[i] !== LF; i++);
          if (i < n) {
            i++;
            this.#state = this.#chunkLeft === 0 ? State.Done : State.ChunkData;
          }
          break;
        case State.ChunkData: {
          const end = Math.min(n, i + this.#chunkLeft);
          this.#lines(buf, i, end, recvMs);
          this.#chunkLeft -= end - i;
          i = end;
          if (this.#chunkLeft === 0) this.#state = State.ChunkEnd;
          break;
        }
        case State.ChunkEnd:
          if (buf[i++] === LF) this.#state = State.ChunkSize;
          break;
        case State.Identity:
          this.#lines(buf, i, n, recvMs);
          i = n;
          break;
        case State.Done:
          return;
      }
    }
  }

  #readHead(buf: Uint8Array, start: number, n: number): number {
    const head = this.#head;
    for (let i = start; i < n; i++) {
      const c = buf[i]!;
      head.push(c);
      const len = head.length;
      if (c === LF && len >= 4 && head[len - 2] === CR && head[len - 3] === LF) {
        this.#endHead();
        return i + 1;
      }
      if (len > MAX_RESPONSE_HEAD) throw new Error("response head over 16 KB");
    }
    return n;
  }

  #endHead(): void {
    const text = String.fromCharCode(...this.#head);
    this.#head = [];
    this.status = Number(text.slice(9, 12));
    const chunked = /\r\ntransfer-encoding:[^\r]*chunked/i.test(text);
    this.#state = chunked ? State.ChunkSize : State.Identity;
    this.#sink.head(this.status);
  }

  #readChunkSize(buf: Uint8Array, start: number, n: number): number {
    for (let i = start; i < n; i++) {
      const c = buf[i]!;
      const digit = hexValue(c);
      if (digit >= 0) {
        this.#chunkLeft = this.#chunkLeft * 16 + digit;
      } else if (c === LF) {
        this.#state = this.#chunkLeft === 0 ? State.Done : State.ChunkData;
        return i + 1;
      } else if (c !== CR) {
        this.#state = State.ChunkExt;
        return i + 1;
      }
    }
    return n;
  }

  #lines(buf: Uint8Array, start: number, end: number, recvMs: number): void {
    let s = start;
    while (s < end) {
      const nl = buf.indexOf(LF, s);
      if (nl < 0 || nl >= end) {
        this.#keepLineStart(buf, s, end);
        return;
      }
      if (this.#inLine) {
        this.#keepLineStart(buf, s, nl);
        this.#emit(this.#line, 0, this.#lineLen, recvMs);
        this.#inLine = false;
        this.#lineLen = 0;
      } else {
        this.#emit(buf, s, nl, recvMs);
      }
      s = nl + 1;
    }
  }

  #keepLineStart(buf: Uint8Array, start: number, end: number): void {
    this.#inLine = true;
    const take = Math.min(end - start, LINE_HEAD - this.#lineLen);
    if (take <= 0) return;
    this.#line.set(buf.subarray(start, start + take), this.#lineLen);
    this.#lineLen += take;
  }

  #emit(buf: Uint8Array, start: number, end: number, recvMs: number): void {
    if (end === start || (end === start + 1 && buf[start] === 0)) return;
    const t = findTimestamp(buf, start, end);
    if (Number.isNaN(t)) this.#sink.other();
    else this.#sink.event(t, recvMs);
  }
}

function hexValue(c: number): number {
  if (c >= ZERO && c <= NINE) return c - ZERO;
  const lower = c | 0x20;
  if (lower >= 97 && lower <= 102) return lower - 87;
  return -1;
}
