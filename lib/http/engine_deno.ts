/**
 * The `Deno.serve` engine (the default): the handler reads Deno's `Request` through a
 * {@link Call}, its {@link Reply} becomes a `Response`, and a subscriber's stream is the
 * `ReadableStream` of its response body.
 *
 * Memory: `Deno.serve` keeps a fixed ring of 1024 buffer slots behind every streaming body
 * it reads from JavaScript, on top of the connection's own buffers; an idle subscriber costs
 * about 55 KB here, almost all of it inside Deno. `server.engine: node` costs far less.
 *
 * @module
 */

import { concat } from "../core/bytes.ts";
import type { Call, Engine, Handler, ListenOptions, OpenStream, Peer, Reply } from "./engine.ts";
import { errorMessage, log } from "../log.ts";
import { pathOf, targetLength, tooLarge } from "./request.ts";
import { SlowSubscriberError, Subscriber, type SubscriberOptions } from "../core/subscriber.ts";
import { type BodyDeadline, bodyWithin, Deadlines, sweepPeriodMs } from "./timeouts.ts";
import {
  type ConnectionHandler,
  type Listening,
  perConnectionServing,
  serveConnections,
} from "./deno_connections.ts";

/** Counts queued bytes rather than chunks; shared by every stream. */
const BYTES: QueuingStrategy<Uint8Array> = { highWaterMark: 0, size: (chunk) => chunk.byteLength };

/**
 * A subscriber whose bytes are enqueued on its response body. It is the stream's
 * underlying source itself, so a stream adds no closures or source objects of ours.
 */
export class StreamSubscriber extends Subscriber {
  /** The response body. */
  readonly body: ReadableStream<Uint8Array>;
  #controller!: ReadableStreamDefaultController<Uint8Array>;

  constructor(opts: SubscriberOptions) {
    super(opts);
    this.body = new ReadableStream<Uint8Array>(this, BYTES);
  }

  /** Underlying-source hook: the stream hands over its controller. */
  start(controller: ReadableStreamDefaultController<Uint8Array>): void {
    this.#controller = controller;
  }

  /** Underlying-source hook: the engine cancelled the body, so the client went away. */
  cancel(): void {
    this.ended();
  }

  /** Bytes enqueued but not yet taken by `Deno.serve`. */
  get queuedBytes(): number {
    return this.closed ? 0 : -(this.#controller.desiredSize ?? 0);
  }

  protected write(bytes: Uint8Array): void {
    this.#controller.enqueue(bytes);
  }

  protected end(abort: boolean): void {
    try {
      if (abort) this.#controller.error(new SlowSubscriberError("subscriber too slow"));
      else this.#controller.close();
    } catch {
      // Already errored by the engine: nothing left to end.
    }
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

  body(limit: number): Promise<Uint8Array> {
    return bodyWithin(this.deadline, this.#read(limit));
  }

  async #read(limit: number): Promise<Uint8Array> {
    const req = this.req;
    const declared = req.headers.get("content-length");
    if (declared !== null) {
      if (Number(declared) > limit) throw tooLarge(limit);
      // Not through `req.body`: making that stream costs more than reading a small body.
      return await req.bytes();
    }
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

function toResponse(reply: Reply): Response {
  const body = reply.stream ? reply.stream.body : reply.text;
  return new Response(body, { status: reply.status, headers: reply.headers });
}

function openStream(opts: SubscriberOptions): OpenStream {
  const subscriber = new StreamSubscriber(opts);
  return { subscriber, body: subscriber.body };
}

function onError(err: unknown): Response {
  if (!(err instanceof SlowSubscriberError)) {
    log.error("request failed", { error: errorMessage(err) });
  }
  return new Response("internal error\n", { status: 500 });
}

/**
 * Starts the listeners: plain HTTP, and HTTPS when `opts.tls` is set. Each connection is
 * served by Deno's own server and watched for `server.timeouts` (`deno_connections.ts`).
 *
 * @throws {Error} naming the address and port that could not be bound.
 */
export function serveDeno(handler: Handler, opts: ListenOptions): Promise<Engine> {
  const servers: Listening[] = [];
  const deadlines = new Deadlines(sweepPeriodMs(opts.timeouts));
  const bodyDeadline: BodyDeadline = { deadlines, seconds: opts.timeouts.body };
  const peerOf = (info: Deno.ServeHandlerInfo<Deno.NetAddr>): Peer => ({
    address: info.remoteAddr.hostname,
    httpVersion: null,
    openStream,
  });
  const serve: ConnectionHandler = async (req, info, holder) => {
    const reply = await handler(new RequestCall(req, bodyDeadline), peerOf(info));
    if (reply.stream && holder) holder.hold(info.completed);
    return toResponse(reply);
  };
  const listen = listener(serve, opts, deadlines);
  const engine: Engine = {
    get port() {
      return servers[0]?.addr.port ?? 0;
    },
    get tlsPort() {
      return servers[1]?.addr.port ?? 0;
    },
    async shutdown() {
      await Promise.all(servers.map((s) => s.shutdown()));
      deadlines.close();
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
    return engine.shutdown().then(() => {
      throw new Error(`cannot listen on ${opts.hostname} port ${port}: ${errorMessage(err)}`);
    });
  }
  return Promise.resolve(engine);
}

type Listen = (port: number, tls: { cert: string; key: string } | null) => Listening;

/**
 * What starts one listener: Deno's server per connection, watched for the head and idle
 * timeouts; or plain `Deno.serve` when both are off, or when this Deno lacks per-connection
 * serving (then they are not enforced, and the log says so).
 */
function listener(serve: ConnectionHandler, opts: ListenOptions, deadlines: Deadlines): Listen {
  const { hostname, timeouts, onTimeout } = opts;
  const onListen = ({ port }: Deno.NetAddr, tls: boolean) =>
    log.info(`listening for ${tls ? "HTTPS" : "HTTP"}`, {
      address: hostname,
      port,
      engine: "deno",
    });
  const watched = timeouts.head > 0 || timeouts.idle > 0;
  const serveOn = watched ? perConnectionServing() : null;
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
  if (watched) {
    log.warn("this Deno cannot serve per connection: server.timeouts.head and idle not enforced", {
      engine: "deno",
    });
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
