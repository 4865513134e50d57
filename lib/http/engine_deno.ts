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
import { pathOf, tooLarge } from "./request.ts";
import { SlowSubscriberError, Subscriber, type SubscriberOptions } from "../core/subscriber.ts";

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
  constructor(readonly req: Request) {}

  get method(): string {
    return this.req.method;
  }

  get path(): string {
    return pathOf(this.req.url);
  }

  header(name: string): string | null {
    return this.req.headers.get(name);
  }

  body(limit: number): Promise<Uint8Array> {
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
 * Starts `Deno.serve` listeners: plain HTTP, and HTTPS when `opts.tls` is set.
 *
 * @throws {Error} naming the address and port that could not be bound.
 */
export function serveDeno(handler: Handler, opts: ListenOptions): Promise<Engine> {
  const servers: Deno.HttpServer<Deno.NetAddr>[] = [];
  const peerOf = (info: Deno.ServeHandlerInfo<Deno.NetAddr>): Peer => ({
    address: info.remoteAddr.hostname,
    httpVersion: null,
    openStream,
  });
  const onListen = (tls: boolean) => ({ hostname, port }: Deno.NetAddr) =>
    log.info(`listening for ${tls ? "HTTPS" : "HTTP"}`, {
      address: hostname,
      port,
      engine: "deno",
    });
  const base = {
    hostname: opts.hostname,
    onError,
    handler: async (req: Request, info: Deno.ServeHandlerInfo<Deno.NetAddr>) =>
      toResponse(await handler(new RequestCall(req), peerOf(info))),
  };
  const engine: Engine = {
    get port() {
      return servers[0]?.addr.port ?? 0;
    },
    get tlsPort() {
      return servers[1]?.addr.port ?? 0;
    },
    async shutdown() {
      await Promise.all(servers.map((s) => s.shutdown()));
    },
  };
  try {
    servers.push(Deno.serve({ ...base, port: opts.port, onListen: onListen(false) }));
    if (opts.tls) {
      const { port, cert, key } = opts.tls;
      servers.push(Deno.serve({ ...base, port, cert, key, onListen: onListen(true) }));
    }
  } catch (err) {
    const port = servers.length === 0 ? opts.port : opts.tls?.port;
    return engine.shutdown().then(() => {
      throw new Error(`cannot listen on ${opts.hostname} port ${port}: ${errorMessage(err)}`);
    });
  }
  return Promise.resolve(engine);
}
