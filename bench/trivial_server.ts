/**
 * A trivial fan-out server used to measure the load generator's own ceiling: raw sockets,
 * hand-written HTTP/1.1, exact-path topics, no envelope, no checks, and writes coalesced
 * per subscriber. Whatever the benchmark reports against it is what the generator and
 * the machine can do; a result near it is the box's limit, not the server's.
 *
 * `deno run --allow-net=127.0.0.1 bench/trivial_server.ts PORT`
 *
 * @module
 */

import { writeAll } from "./publisher_conn.ts";

const encoder = new TextEncoder();
const STREAM_HEAD = encoder.encode(
  "HTTP/1.1 200 OK\r\nContent-Type: application/vnd.pypubsub-stream\r\n" +
    "Transfer-Encoding: chunked\r\n\r\n",
);
const ACCEPTED = encoder.encode("HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n");
const CRLF_LF = encoder.encode("\n\r\n");
/** A subscriber with this much unsent is dropped, so memory stays bounded. */
const MAX_QUEUED = 8 * 1024 * 1024;
const MAX_HEAD = 16384;

/** Writes in flight at once: Deno slows down sharply with tens of thousands pending. */
const MAX_WRITES = 64;

/**
 * One subscriber's socket. Events published while the sink waits for its turn, or while
 * its write is in flight, go out together in one write: under load the server spends its
 * time on bytes rather than on one write per event per subscriber.
 */
class Sink {
  #queue: Uint8Array[] = [];
  #queued = 0;
  /** Waiting in {@link ready} or writing. */
  #scheduled = false;
  closed = false;

  constructor(readonly conn: Deno.Conn) {}

  send(bytes: Uint8Array): void {
    if (this.closed) return;
    if (this.#queued + bytes.length > MAX_QUEUED) return this.close();
    this.#queue.push(bytes);
    this.#queued += bytes.length;
    if (this.#scheduled) return;
    this.#scheduled = true;
    schedule(this);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      this.conn.close();
    } catch {
      // Already closed.
    }
  }

  /** Writes what is queued now; what arrives meanwhile waits for the next turn. */
  async write(): Promise<void> {
    const batch = concat(this.#queue, this.#queued);
    this.#queue = [];
    this.#queued = 0;
    try {
      if (!this.closed) await writeAll(this.conn, batch);
    } catch {
      this.close();
    }
    if (this.#queue.length > 0 && !this.closed) schedule(this);
    else this.#scheduled = false;
  }
}

/** Sinks with bytes to write, in turn order. */
let ready: Sink[] = [];
let readyNext = 0;
let writing = 0;
let pumpQueued = false;

/** Queues `sink` for a write; writes start once the current turn's requests are handled. */
function schedule(sink: Sink): void {
  ready.push(sink);
  if (pumpQueued) return;
  pumpQueued = true;
  queueMicrotask(pump);
}

function pump(): void {
  pumpQueued = false;
  while (writing < MAX_WRITES && readyNext < ready.length) {
    const sink = ready[readyNext++]!;
    writing++;
    sink.write().finally(() => {
      writing--;
      pump();
    });
  }
  if (readyNext === ready.length) {
    ready = [];
    readyNext = 0;
  }
}

function concat(parts: Uint8Array[], total: number): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  const out = new Uint8Array(total);
  let off = 0;
  for (const part of parts) {
    out.set(part, off);
    off += part.length;
  }
  return out;
}

const topics = new Map<string, Set<Sink>>();

function chunk(body: Uint8Array): Uint8Array {
  const size = encoder.encode(`${(body.length + 1).toString(16)}\r\n`);
  const out = new Uint8Array(size.length + body.length + CRLF_LF.length);
  out.set(size);
  out.set(body, size.length);
  out.set(CRLF_LF, size.length + body.length);
  return out;
}

function publish(path: string, body: Uint8Array): void {
  const subs = topics.get(path);
  if (!subs) return;
  const bytes = chunk(body);
  for (const sink of subs) sink.send(bytes);
}

function headEnd(buf: Uint8Array, start: number, end: number): number {
  for (let i = start + 3; i < end; i++) {
    if (buf[i] === 10 && buf[i - 1] === 13 && buf[i - 2] === 10 && buf[i - 3] === 13) return i + 1;
  }
  return -1;
}

async function serve(conn: Deno.Conn): Promise<void> {
  let buf = new Uint8Array(4096);
  let start = 0;
  let end = 0;
  try {
    for (;;) {
      const stop = headEnd(buf, start, end);
      if (stop < 0) {
        if (end - start > MAX_HEAD) return;
        if (start > 0) {
          buf.copyWithin(0, start, end);
          end -= start;
          start = 0;
        }
        if (end === buf.length) buf = grow(buf);
        const n = await conn.read(buf.subarray(end));
        if (n === null) return;
        end += n;
        continue;
      }
      const head = String.fromCharCode(...buf.subarray(start, stop));
      const [method = "", path = "/"] = head.split(" ", 2);
      const length = Number(/\r\ncontent-length:\s*(\d+)/i.exec(head)?.[1] ?? 0);
      if (method === "GET") {
        const sink = new Sink(conn);
        const subs = topics.get(path) ?? new Set();
        topics.set(path, subs);
        subs.add(sink);
        sink.send(STREAM_HEAD);
        await drainUntilClosed(conn, buf);
        subs.delete(sink);
        if (subs.size === 0) topics.delete(path);
        return;
      }
      while (end - stop < length) {
        if (end === buf.length) buf = grow(buf);
        const n = await conn.read(buf.subarray(end));
        if (n === null) return;
        end += n;
      }
      publish(path, buf.slice(stop, stop + length));
      start = stop + length;
      await writeAll(conn, ACCEPTED);
    }
  } catch {
    // A reset connection ends like a closed one.
  } finally {
    try {
      conn.close();
    } catch {
      // Already closed.
    }
  }
}

function grow(buf: Uint8Array<ArrayBuffer>): Uint8Array<ArrayBuffer> {
  const bigger = new Uint8Array(buf.length * 2);
  bigger.set(buf);
  return bigger;
}

async function drainUntilClosed(conn: Deno.Conn, buf: Uint8Array): Promise<void> {
  while ((await conn.read(buf)) !== null);
}

/** Accepts connections on `127.0.0.1:port` until the process is stopped. */
export async function runTrivialServer(port: number): Promise<void> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port });
  for await (const conn of listener) {
    conn.setNoDelay(true);
    serve(conn);
  }
}

if (import.meta.main) await runTrivialServer(Number(Deno.args[0] ?? 0));
