/**
 * A subscriber on a raw socket that splits the chunked body into its HTTP chunks, as the
 * ASF's legacy Python reader sees them, so tests can assert how a stream is framed and
 * how it ends (cut, or closed with the last chunk).
 */

import { waitFor } from "./helpers.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** How a {@link ChunkedClient} reads. */
export interface ReadPace {
  /** Bytes asked for per read; small reads take a chunk apart across reads. */
  readSize: number;
  /** Pause after each read, in ms: a slow reader. */
  pauseMs: number;
}

/** Reads as fast as the socket delivers. */
export const FAST: ReadPace = { readSize: 65536, pauseMs: 0 };

/** Upper bound on bytes one client collects, so a runaway stream cannot fill memory. */
const MAX_BYTES = 64 * 1024 * 1024;

/**
 * One subscription over HTTP/1.1 whose body is parsed chunk by chunk. Reading starts
 * when {@link resume} is called, so a test can stall it first.
 */
export class ChunkedClient {
  /** The response head, once complete. */
  head: string | null = null;
  /** Each chunk of the body, decoded, in order. */
  readonly chunks: string[] = [];
  /** The body's last chunk (size 0) arrived. */
  lastChunk = false;
  /** The connection was closed or reset by the server. */
  closed = false;
  /** A framing error: the body is not valid chunked encoding. */
  error: string | null = null;
  #buffer = new Uint8Array(0);
  #bytes = 0;
  #stopped = false;
  #reading: Promise<void> | null = null;
  readonly #conn: Deno.TcpConn;

  private constructor(conn: Deno.TcpConn) {
    this.#conn = conn;
  }

  /** Connects and sends `GET path` with `headers`; reading waits for {@link resume}. */
  static async request(
    port: number,
    path: string,
    headers: Record<string, string> = {},
  ): Promise<ChunkedClient> {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    const lines = Object.entries({ Host: "localhost", ...headers }).map(([k, v]) => `${k}: ${v}`);
    await conn.write(encoder.encode(`GET ${path} HTTP/1.1\r\n${lines.join("\r\n")}\r\n\r\n`));
    return new ChunkedClient(conn);
  }

  /** Starts (or goes on) reading at `pace`. */
  resume(pace: ReadPace = FAST): void {
    this.#reading ??= this.#read(pace);
  }

  /** Bytes received after the last complete chunk: a chunk cut in the middle. */
  get partial(): number {
    return this.#buffer.byteLength;
  }

  /** The lines of the body, however chunked, without keepalives and oldschool `\0`s. */
  events(): string[] {
    return this.chunks.join("").split("\n").map((line) => line.replace(/^\0/, ""))
      .filter((line) => line !== "" && !line.startsWith('{"stillalive"'));
  }

  /** Waits until `n` event lines have arrived. */
  async waitEvents(n: number, timeoutMs = 10_000): Promise<void> {
    await waitFor(() => this.events().length >= n || this.closed, timeoutMs, `${n} events`);
    if (this.events().length < n) {
      throw new Error(`stream closed after ${this.events().length} of ${n} events`);
    }
  }

  /** Waits until the server has closed the connection. */
  async waitClosed(timeoutMs = 10_000): Promise<void> {
    await waitFor(() => this.closed, timeoutMs, "the server to close the connection");
  }

  /** Stops reading and closes the connection. */
  async close(): Promise<void> {
    this.#stopped = true;
    try {
      this.#conn.close();
    } catch {
      // Already closed.
    }
    await this.#reading;
  }

  async #read(pace: ReadPace): Promise<void> {
    const buf = new Uint8Array(pace.readSize);
    while (!this.#stopped && this.#bytes < MAX_BYTES) {
      let n: number | null;
      try {
        n = await this.#conn.read(buf);
      } catch {
        n = null; // Reset by the server, or closed here.
      }
      if (n === null) break;
      this.#bytes += n;
      this.#append(buf.subarray(0, n));
      this.#parse();
      if (pace.pauseMs > 0) await new Promise((r) => setTimeout(r, pace.pauseMs));
    }
    this.closed = !this.#stopped;
  }

  #append(bytes: Uint8Array): void {
    const joined = new Uint8Array(this.#buffer.byteLength + bytes.byteLength);
    joined.set(this.#buffer);
    joined.set(bytes, this.#buffer.byteLength);
    this.#buffer = joined;
  }

  /** Takes every complete head and chunk off the front of the buffer. */
  #parse(): void {
    while (this.error === null && !this.lastChunk) {
      const buffer = this.#buffer;
      if (this.head === null) {
        const end = decoder.decode(buffer).indexOf("\r\n\r\n");
        if (end < 0) return;
        this.head = decoder.decode(buffer.subarray(0, end));
        this.#buffer = buffer.subarray(encoder.encode(this.head).byteLength + 4);
        continue;
      }
      const crlf = indexOfCrlf(buffer);
      if (crlf < 0) return;
      const sizeLine = decoder.decode(buffer.subarray(0, crlf));
      const size = parseInt(sizeLine, 16);
      if (!/^[0-9a-f]+$/i.test(sizeLine) || Number.isNaN(size)) {
        this.error = `bad chunk size line ${JSON.stringify(sizeLine)}`;
        return;
      }
      const start = crlf + 2;
      if (size === 0) {
        this.lastChunk = buffer.byteLength >= start + 2;
        if (this.lastChunk) this.#buffer = buffer.subarray(start + 2);
        return;
      }
      if (buffer.byteLength < start + size + 2) return;
      if (buffer[start + size] !== 13 || buffer[start + size + 1] !== 10) {
        this.error = `chunk of ${size} bytes not followed by CRLF`;
        return;
      }
      this.chunks.push(decoder.decode(buffer.subarray(start, start + size)));
      this.#buffer = buffer.subarray(start + size + 2);
    }
  }
}

function indexOfCrlf(bytes: Uint8Array): number {
  for (let i = 0; i + 1 < bytes.byteLength; i++) {
    if (bytes[i] === 13 && bytes[i + 1] === 10) return i;
  }
  return -1;
}

/**
 * Why `chunk` is not exactly one line (a JSON object, `\n`, and `\0` when `oldschool`),
 * or null when it is.
 */
export function notOneLine(chunk: string, oldschool: boolean): string | null {
  const end = oldschool ? "\n\0" : "\n";
  if (!chunk.endsWith(end)) return `does not end with ${JSON.stringify(end)}`;
  const body = chunk.slice(0, -end.length);
  if (body.includes("\n") || body.includes("\0")) {
    return `holds ${body.split("\n").length} lines`;
  }
  try {
    const value = JSON.parse(body);
    if (typeof value !== "object" || value === null) return "is not a JSON object";
  } catch {
    return "is not one JSON document";
  }
  return null;
}
