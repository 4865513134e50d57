/**
 * The `Deno.serve` engine (the default): the handler reads Deno's `Request` through a
 * {@link Call}, its {@link Reply} becomes a `Response`, and a subscriber's stream is the
 * `ReadableStream` of its response body.
 *
 * Each connection is served by `Deno.serveHttp` while the head and idle timeouts are on (the
 * default; `deno_connections.ts`), by `Deno.serve` when both are off. `Deno.serveHttp` sends
 * every piece of a body as a chunk of its own but awaits an operation per chunk, about 2.3
 * times the CPU per delivery of `Deno.serve`; `Deno.serve` merges small pieces, so only its
 * streams are paced. An idle subscriber costs about 43 KB on the first and 57 KB on the
 * second, almost all of it inside Deno. `server.engine: node` costs far less of both.
 *
 * @module
 */

import { concat } from "../core/bytes.ts";
import type { Call, Engine, Handler, ListenOptions, OpenStream, Peer, Reply } from "./engine.ts";
import { errorMessage, log } from "../log.ts";
import { pathOf, queryParam, targetLength, tooLarge } from "./request.ts";
import { StreamCutError, Subscriber, type SubscriberOptions } from "../core/subscriber.ts";
import { Ticker } from "./ticker.ts";
import { upgradeDeno } from "./ws_deno.ts";
import { type BodyDeadline, bodyWithin, Deadlines, sweepPeriodMs } from "./timeouts.ts";
import { type ConnectionHandler, type Listening, serveConnections } from "./deno_connections.ts";
import { perConnectionServing, type ServeOnConnection } from "./deno_http_conn.ts";

/** Deno's queue behind a body holds nothing but the line handed for the pending read. */
const NO_QUEUE: QueuingStrategy<Uint8Array> = { highWaterMark: 0 };

/**
 * `Deno.serve` sends what waits in its queue behind a body as one chunk when it is this
 * many bytes or fewer, and one piece at a time otherwise (`BUFFER_AGGREGATION_LIMIT` in
 * Deno's `ext/web/stream_resource.rs`).
 */
const MERGED_UP_TO = 1024;

/** Lines a stream queues before the spent slots at the front are given back. */
const COMPACT_AFTER = 1024;

/**
 * How long shutdown waits for `Deno.serve` to finish its connections. One that cannot send
 * (the client stopped reading and its socket is full) never finishes: Deno has no way to
 * close it from JavaScript, so shutdown stops waiting and the process exit cuts it.
 */
const SHUTDOWN_WAIT_MS = 2000;

/**
 * Tells the streams of one engine when Deno's HTTP layer has taken the lines they handed
 * over. Hand-overs are numbered; a tick of the {@link Ticker} proves every number issued
 * before it was asked for, and then the streams that waited are offered their next line.
 */
class Pacer {
  /** The number a hand-over made now gets. */
  current = 1;
  /** Every hand-over numbered up to this one has been taken. */
  proven = 0;
  #ticking = false;
  #waiting: StreamSubscriber[] = [];
  readonly #ticker: Ticker;

  constructor(ticker: Ticker) {
    this.#ticker = ticker;
  }

  /** Offers `sub` its next line once a tick has proven its last hand-over taken. */
  wait(sub: StreamSubscriber): void {
    this.#waiting.push(sub);
    if (this.#ticking) return;
    this.#ticking = true;
    const proves = this.current++;
    this.#ticker.tick().then(() => this.#ticked(proves), () => {
      // Closed with the engine: every stream has been cut.
    });
  }

  #ticked(proves: number): void {
    this.#ticking = false;
    this.proven = proves;
    const waiting = this.#waiting;
    this.#waiting = [];
    for (const sub of waiting) sub.offer();
  }
}

/**
 * A subscriber whose lines are the chunks of its response body, one line per chunk.
 *
 * Without a pacer (under `Deno.serveHttp`) each line is handed over when Deno asks for one.
 * `Deno.serve` copies a body into a queue of its own as fast as the body yields, and
 * sends up to 1 KB of what that queue holds as one chunk. A chunk with two lines is lost
 * to the ASF's legacy reader, which parses each chunk as one JSON document. So the lines
 * wait here, and Deno gets one when it asks (`pull`) and only when it cannot be merged
 * with the one before: either the two make more than {@link MERGED_UP_TO} bytes, or a tick
 * of the engine's {@link Pacer} has proven the one before taken. A burst or a replay of
 * small events thus leaves at one line per stream per tick.
 *
 * Deno tells JavaScript nothing when it has sent a chunk, so a tick is the best proof
 * there is, and it can fail: the scheduler runs a batch of ready tasks before it polls
 * for I/O, so in a fan-out to more streams than a batch some may not have run yet; and a
 * connection whose socket buffer is full takes nothing. Small lines may then still share
 * a chunk. `server.engine: node` frames every line itself and has neither limit.
 *
 * The subscriber is the stream's underlying source itself, so a stream adds no closures
 * or source objects of ours.
 */
export class StreamSubscriber extends Subscriber {
  /** The response body. */
  readonly body: ReadableStream<Uint8Array>;
  readonly #pacer: Pacer | null;
  #controller!: ReadableStreamDefaultController<Uint8Array>;
  /** Lines not yet handed to Deno, from `#head` on; null when none (most of the time). */
  #queue: Uint8Array[] | null = null;
  #head = 0;
  #queuedBytes = 0;
  /** Deno asked for a line and has not had one yet. */
  #pulled = false;
  /** The pacer's number of the last hand-over, and that line's length. */
  #handedAs = 0;
  #handedBytes = 0;
  /** Waits for the pacer's next tick. */
  #waiting = false;

  constructor(opts: SubscriberOptions, pacer: Pacer | null) {
    super(opts);
    this.#pacer = pacer;
    this.body = new ReadableStream<Uint8Array>(this, NO_QUEUE);
  }

  /** Underlying-source hook: the stream hands over its controller. */
  start(controller: ReadableStreamDefaultController<Uint8Array>): void {
    this.#controller = controller;
  }

  /** Underlying-source hook: Deno wants the next chunk. */
  pull(): void {
    this.#pulled = true;
    if (!this.#waiting) this.offer();
  }

  /** Underlying-source hook: the engine cancelled the body, so the client went away. */
  cancel(): void {
    this.#drop();
    this.ended();
  }

  /** Lines queued here and not yet handed to `Deno.serve`. */
  get queuedBytes(): number {
    return this.#queuedBytes;
  }

  /**
   * Hands Deno the next line if it asked for one and the line cannot be merged with the
   * last; otherwise, with a line waiting, asks the pacer to call again after a tick.
   */
  offer(): void {
    this.#waiting = false;
    const queue = this.#queue;
    if (!this.#pulled || queue === null) return;
    const line = queue[this.#head]!;
    if (this.#mayHand(line)) {
      this.#dequeue(queue, line);
      this.#hand(line);
    } else {
      this.#waiting = true;
      this.#pacer!.wait(this);
    }
  }

  protected write(bytes: Uint8Array): void {
    // A stream that keeps up takes each line as it comes, without queueing it here.
    if (this.#queue === null && this.#pulled && this.#mayHand(bytes)) {
      this.#hand(bytes);
      return;
    }
    (this.#queue ??= []).push(bytes);
    this.#queuedBytes += bytes.byteLength;
    if (!this.#waiting) this.offer();
  }

  /**
   * Errors the body: Deno then sends the line it holds, if any, and closes the connection
   * without the last chunk. The lines still queued here are dropped even on shutdown:
   * handing them over at once would merge them into one chunk.
   */
  protected cut(): void {
    this.#drop();
    try {
      this.#controller.error(new StreamCutError("stream ended by the server"));
    } catch {
      // Already cancelled by the engine: nothing left to cut.
    }
  }

  /** True when `line` cannot end up in one chunk with the line handed over before it. */
  #mayHand(line: Uint8Array): boolean {
    const pacer = this.#pacer;
    return pacer === null || this.#handedAs <= pacer.proven ||
      this.#handedBytes + line.byteLength > MERGED_UP_TO;
  }

  #hand(line: Uint8Array): void {
    this.#pulled = false;
    this.#handedAs = this.#pacer?.current ?? 0;
    this.#handedBytes = line.byteLength;
    this.#controller.enqueue(line);
  }

  /** Takes `line`, the first, off the queue. */
  #dequeue(queue: Uint8Array[], line: Uint8Array): void {
    this.#head++;
    if (this.#head === queue.length) {
      this.#queue = null;
      this.#head = 0;
    } else if (this.#head >= COMPACT_AFTER) {
      queue.splice(0, this.#head);
      this.#head = 0;
    }
    this.#queuedBytes -= line.byteLength;
  }

  #drop(): void {
    this.#queue = null;
    this.#head = 0;
    this.#queuedBytes = 0;
  }
}

/** A `Request` as the handler reads it. */
class RequestCall implements Call {
  constructor(readonly req: Request, readonly deadline: BodyDeadline) {}

  get method(): string {
    return this.req.method;
  }

  get path(): string {
    return pathOf(this.req.url);
  }

  get targetLength(): number {
    return targetLength(this.req.url);
  }

  header(name: string): string | null {
    return this.req.headers.get(name);
  }

  query(name: string): string | null {
    return queryParam(this.req.url, name);
  }

  body(limit: number): Promise<Uint8Array> {
    return bodyWithin(this.deadline, this.#read(limit));
  }

  #read(limit: number): Promise<Uint8Array> {
    const req = this.req;
    const declared = req.headers.get("content-length");
    if (declared === null) return this.#chunked(limit);
    if (Number(declared) > limit) return Promise.reject(tooLarge(limit));
    // Not through `req.body`: making that stream costs more than reading a small body.
    return req.bytes();
  }

  /** A body without a declared length, read chunk by chunk up to `limit`. */
  async #chunked(limit: number): Promise<Uint8Array> {
    const req = this.req;
    if (!req.body) return new Uint8Array(0);
    const chunks: Uint8Array[] = [];
    let total = 0;
    for await (const chunk of req.body) {
      total += chunk.byteLength;
      if (total > limit) throw tooLarge(limit);
      chunks.push(chunk);
    }
    return concat(chunks);
  }
}

function toResponse(reply: Reply, peer: DenoPeer): Response {
  if (reply.stream && peer.upgrade) return peer.upgrade;
  const body = reply.stream ? reply.stream.body : reply.text;
  return new Response(body, { status: reply.status, headers: reply.headers });
}

/** One request's view of its connection; keeps the `101` response of a WebSocket upgrade. */
class DenoPeer implements Peer {
  readonly httpVersion = null;
  upgrade: Response | null = null;

  constructor(readonly address: string, readonly req: Request, readonly pacer: Pacer | null) {}

  openStream(opts: SubscriberOptions): OpenStream {
    const subscriber = new StreamSubscriber(opts, this.pacer);
    return { subscriber, body: subscriber.body };
  }

  openSocket(opts: SubscriberOptions, pingSeconds: number): OpenStream | null {
    const upgraded = upgradeDeno(this.req, opts, pingSeconds);
    this.upgrade = upgraded?.response ?? null;
    return upgraded?.stream ?? null;
  }
}

/** Whether `done` settles within `ms`. */
async function within(done: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<boolean>((resolve) => timer = setTimeout(resolve, ms, false));
  try {
    return await Promise.race([done.then(() => true), late]);
  } finally {
    clearTimeout(timer);
  }
}

function onError(err: unknown): Response {
  if (!(err instanceof StreamCutError)) {
    log.error("request failed", { error: errorMessage(err) });
  }
  return new Response("internal error\n", { status: 500 });
}

/**
 * Starts the listeners: plain HTTP, and HTTPS when `opts.tls` is set. Each connection is
 * served by Deno's own server and watched for `server.timeouts` (`deno_connections.ts`).
 *
 * @throws {Error} naming the address and port that could not be bound, or saying that
 * the streams' ticker (a connection on 127.0.0.1) could not be opened.
 */
export async function serveDeno(handler: Handler, opts: ListenOptions): Promise<Engine> {
  const watched = opts.timeouts.head > 0 || opts.timeouts.idle > 0;
  const serveOn = watched ? perConnectionServing() : null;
  if (watched && !serveOn) {
    log.warn("this Deno cannot serve per connection: server.timeouts.head and idle not enforced", {
      engine: "deno",
    });
  }
  // Deno.serveHttp sends every piece of a body as a chunk of its own; only Deno.serve
  // merges small ones, so only its streams are paced.
  let ticker: Ticker | null = null;
  if (!serveOn) {
    try {
      ticker = await Ticker.open();
    } catch (err) {
      throw new Error(`cannot open the streams' ticker on 127.0.0.1: ${errorMessage(err)}`);
    }
  }
  const pacer = ticker && new Pacer(ticker);
  const servers: Listening[] = [];
  const deadlines = new Deadlines(sweepPeriodMs(opts.timeouts));
  const bodyDeadline: BodyDeadline = { deadlines, seconds: opts.timeouts.body };
  const serve: ConnectionHandler = async (req, info, holder) => {
    const peer = new DenoPeer(info.remoteAddr.hostname, req, pacer);
    const reply = await handler(new RequestCall(req, bodyDeadline), peer);
    if (reply.stream && holder) {
      holder.hold(info.completed);
      // On a watched connection a peer gone between lines is told only by `completed`.
      const { subscriber } = reply.stream;
      if (subscriber instanceof StreamSubscriber) info.completed.catch(() => subscriber.cancel());
    }
    return toResponse(reply, peer);
  };
  const listen = listener(serve, serveOn, opts, deadlines);
  const engine: Engine = {
    get port() {
      return servers[0]?.addr.port ?? 0;
    },
    get tlsPort() {
      return servers[1]?.addr.port ?? 0;
    },
    async shutdown() {
      const finished = await within(
        Promise.all(servers.map((s) => s.shutdown())),
        SHUTDOWN_WAIT_MS,
      );
      if (!finished) log.warn("connections still open after shutdown; they end with the process");
      deadlines.close();
      ticker?.close();
    },
  };
  try {
    servers.push(listen(opts.port, null));
    if (opts.tls) {
      const { port, cert, key } = opts.tls;
      servers.push(listen(port, { cert, key }));
    }
  } catch (err) {
    const port = servers.length === 0 ? opts.port : opts.tls?.port;
    await engine.shutdown();
    throw new Error(`cannot listen on ${opts.hostname} port ${port}: ${errorMessage(err)}`);
  }
  return engine;
}

type Listen = (port: number, tls: { cert: string; key: string } | null) => Listening;

/**
 * What starts one listener: Deno's server per connection, watched for the head and idle
 * timeouts; or plain `Deno.serve` when both are off, or when this Deno lacks per-connection
 * serving (then they are not enforced, and the log says so).
 */
function listener(
  serve: ConnectionHandler,
  serveOn: ServeOnConnection | null,
  opts: ListenOptions,
  deadlines: Deadlines,
): Listen {
  const { hostname, timeouts, onTimeout } = opts;
  const onListen = ({ port }: Deno.NetAddr, tls: boolean) =>
    log.info(`listening for ${tls ? "HTTPS" : "HTTP"}`, {
      address: hostname,
      port,
      engine: "deno",
      server: serveOn ? "Deno.serveHttp" : "Deno.serve",
    });
  if (serveOn) {
    return (port, tls) => {
      const options = {
        hostname,
        port,
        tls,
        timeouts,
        deadlines,
        handler: serve,
        onError,
        onTimeout,
      };
      const server = serveConnections(serveOn, options);
      onListen(server.addr, tls !== null);
      return server;
    };
  }
  const handler = (req: Request, info: Deno.ServeHandlerInfo<Deno.NetAddr>) =>
    serve(req, info, null);
  return (port, tls) => {
    const listening = (addr: Deno.NetAddr) => onListen(addr, tls !== null);
    return tls
      ? Deno.serve({ hostname, port, ...tls, onError, onListen: listening, handler })
      : Deno.serve({ hostname, port, onError, onListen: listening, handler });
  };
}
