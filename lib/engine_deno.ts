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

import { concat } from "./bytes.ts";
import type { Call, Engine, Handler, ListenOptions, OpenStream, Peer, Reply } from "./engine.ts";
import { errorMessage, log } from "./log.ts";
import { pathOf, tooLarge } from "./request.ts";
import { StreamCutError, Subscriber, type SubscriberOptions } from "./subscriber.ts";

/**
 * How long shutdown waits for `Deno.serve` to finish its connections. One that cannot send
 * (the client stopped reading and its socket is full) never finishes: Deno has no way to
 * close it from JavaScript, so shutdown stops waiting and the process exit cuts it.
 */
const SHUTDOWN_WAIT_MS = 2000;

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

  /**
   * Errors the body: Deno then sends what it already took from it and closes the
   * connection without the last chunk.
   */
  protected cut(): void {
    try {
      this.#controller.error(new StreamCutError("stream ended by the server"));
    } catch {
      // Already cancelled by the engine: nothing left to cut.
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

  async body(limit: number): Promise<Uint8Array> {
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
      const finished = await within(
        Promise.all(servers.map((s) => s.shutdown())),
        SHUTDOWN_WAIT_MS,
      );
      if (!finished) log.warn("connections still open after shutdown; they end with the process");
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
