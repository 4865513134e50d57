/**
 * One keep-alive publisher connection speaking hand-written HTTP/1.1: send a request,
 * read its whole response, repeat. No pipelining, so a connection has one request in
 * flight, as a real publisher client would.
 *
 * @module
 */

const CR = 13;
const LF = 10;
const MAX_HEAD = 16384;

/** Connection-level failure: reset, closed, or a response this client cannot read. */
export class PublishConnError extends Error {
  override name = "PublishConnError";
}

/**
 * A keep-alive connection to `127.0.0.1:port` that sends complete requests.
 *
 * @example
 * ```ts ignore
 * import { PublisherConn } from "./publisher_conn.ts";
 * const conn = await PublisherConn.open(2069);
 * const request = "PUT /topic HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}";
 * const status = await conn.send(new TextEncoder().encode(request));
 * conn.close();
 * ```
 */
export class PublisherConn {
  #conn: Deno.Conn;
  #buf = new Uint8Array(MAX_HEAD * 2);
  #start = 0;
  #end = 0;
  #closed = false;

  private constructor(conn: Deno.Conn) {
    this.#conn = conn;
  }

  /** Connects to the server on loopback. */
  static async open(port: number): Promise<PublisherConn> {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    conn.setNoDelay(true);
    return new PublisherConn(conn);
  }

  /** False once the server asked to close or the connection failed. */
  get usable(): boolean {
    return !this.#closed;
  }

  /**
   * Writes `request` and reads the response; returns its status code.
   *
   * @throws {PublishConnError} when the connection fails or closes mid-response.
   */
  async send(request: Uint8Array): Promise<number> {
    try {
      await writeAll(this.#conn, request);
      return await this.#readResponse();
    } catch (err) {
      this.close();
      if (err instanceof PublishConnError) throw err;
      throw new PublishConnError(err instanceof Error ? err.message : String(err));
    }
  }

  /** Closes the socket; safe to call twice. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#conn.close();
    } catch {
      // Already closed by a failed read or write.
    }
  }

  async #readResponse(): Promise<number> {
    let headEnd = -1;
    while ((headEnd = this.#findHeadEnd()) < 0) await this.#fill();
    const head = parseHead(this.#buf, this.#start, headEnd);
    this.#start = headEnd;
    if (head.chunked) await this.#skipChunked();
    else await this.#skip(head.length);
    if (head.close) this.close();
    return head.status;
  }

  #findHeadEnd(): number {
    const buf = this.#buf;
    for (let i = this.#start + 3; i < this.#end; i++) {
      if (buf[i] === LF && buf[i - 1] === CR && buf[i - 2] === LF && buf[i - 3] === CR) {
        return i + 1;
      }
    }
    if (this.#end - this.#start >= MAX_HEAD) throw new PublishConnError("response head over 16 KB");
    return -1;
  }

  async #skip(bytes: number): Promise<void> {
    let left = bytes;
    while (left > 0) {
      if (this.#start === this.#end) await this.#fill();
      const take = Math.min(left, this.#end - this.#start);
      this.#start += take;
      left -= take;
    }
  }

  async #skipChunked(): Promise<void> {
    for (;;) {
      const line = await this.#readLine();
      const size = parseInt(line, 16);
      if (Number.isNaN(size)) throw new PublishConnError(`bad chunk size ${JSON.stringify(line)}`);
      if (size === 0) {
        while ((await this.#readLine()) !== "");
        return;
      }
      await this.#skip(size);
      await this.#readLine();
    }
  }

  async #readLine(): Promise<string> {
    for (;;) {
      const nl = this.#buf.subarray(this.#start, this.#end).indexOf(LF);
      if (nl >= 0) {
        const line = String.fromCharCode(...this.#buf.subarray(this.#start, this.#start + nl));
        this.#start += nl + 1;
        return line.replace(/\r$/, "");
      }
      await this.#fill();
    }
  }

  /** Reads more bytes, first moving unread ones to the front of the buffer. */
  async #fill(): Promise<void> {
    if (this.#start > 0) {
      this.#buf.copyWithin(0, this.#start, this.#end);
      this.#end -= this.#start;
      this.#start = 0;
    }
    const n = await this.#conn.read(this.#buf.subarray(this.#end));
    if (n === null) throw new PublishConnError("server closed the connection");
    this.#end += n;
  }
}

/** What a response head says about its body and connection. */
interface ResponseHead {
  status: number;
  length: number;
  chunked: boolean;
  close: boolean;
}

const ascii = (text: string) => Uint8Array.from(text, (c) => c.charCodeAt(0));
const CONTENT_LENGTH = ascii("content-length:");
const TRANSFER_ENCODING = ascii("transfer-encoding:");
const CONNECTION = ascii("connection:");
const CHUNKED = ascii("chunked");
const CLOSE = ascii("close");

/**
 * Reads the status and the three headers that matter from the head in `buf[start, end)`,
 * on the bytes: this runs once per publish, so it makes no strings.
 */
function parseHead(buf: Uint8Array, start: number, end: number): ResponseHead {
  const head = { status: 0, length: 0, chunked: false, close: false };
  for (let i = start + 9; i < start + 12; i++) head.status = head.status * 10 + buf[i]! - 48;
  let line = buf.indexOf(LF, start) + 1;
  while (line > 0 && line < end - 2) {
    const next = buf.indexOf(LF, line) + 1;
    if (startsWithName(buf, line, CONTENT_LENGTH)) {
      head.length = 0;
      for (let i = line + CONTENT_LENGTH.length; i < next; i++) {
        const c = buf[i]!;
        if (c >= 48 && c <= 57) head.length = head.length * 10 + c - 48;
      }
    } else if (startsWithName(buf, line, TRANSFER_ENCODING)) {
      head.chunked = contains(buf, line + TRANSFER_ENCODING.length, next, CHUNKED);
    } else if (startsWithName(buf, line, CONNECTION)) {
      head.close = contains(buf, line + CONNECTION.length, next, CLOSE);
    }
    line = next;
  }
  return head;
}

/** Case-insensitive match of lowercase `name` at `at`. */
function startsWithName(buf: Uint8Array, at: number, name: Uint8Array): boolean {
  for (let i = 0; i < name.length; i++) {
    if ((buf[at + i]! | 0x20) !== (name[i]! | 0x20)) return false;
  }
  return true;
}

/** Case-insensitive search for lowercase `word` in `buf[from, to)`. */
function contains(buf: Uint8Array, from: number, to: number, word: Uint8Array): boolean {
  for (let i = from; i + word.length <= to; i++) {
    if (startsWithName(buf, i, word)) return true;
  }
  return false;
}

/** Writes all of `data`; `Conn.write` may write only part of it. */
export async function writeAll(conn: Deno.Conn, data: Uint8Array): Promise<void> {
  let off = 0;
  while (off < data.length) off += await conn.write(data.subarray(off));
}
