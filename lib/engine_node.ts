/**
 * The `node:http` engine (`server.engine: node`): the same handler behind Node's HTTP
 * server inside Deno. The handler reads Node's `IncomingMessage` through a {@link Call};
 * its {@link Reply} is written to the `ServerResponse`; a subscriber writes straight to
 * its `ServerResponse`, so an open stream costs Node's connection objects and no
 * `ReadableStream`.
 *
 * Unlike `Deno.serve`, this engine sees the HTTP version, so an HTTP/1.0 subscriber gets
 * PyPubSub's answer (an empty 200) instead of a stream.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { createServer, IncomingMessage, type Server, ServerResponse } from "node:http";
import { createServer as createTlsServer } from "node:https";
import { concat } from "./bytes.ts";
import type { Call, Engine, Handler, ListenOptions, OpenStream, Peer, Reply } from "./engine.ts";
import { HttpError } from "./http_error.ts";
import { errorMessage, log } from "./log.ts";
import { pathOf, tooLarge } from "./request.ts";
import { SlowSubscriberError, Subscriber, type SubscriberOptions } from "./subscriber.ts";

/** How long shutdown waits for ended streams to flush before cutting connections. */
const FLUSH_MS = 2000;

/** The open streams of an engine, so that shutdown can wait for their last bytes. */
class OpenStreams {
  count = 0;
  #idle: (() => void) | null = null;

  opened(): void {
    this.count++;
  }

  closed(): void {
    if (--this.count === 0) this.#idle?.();
  }

  /** Resolves when no stream is open, or after `ms`. */
  drained(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.#idle = () => {
        clearTimeout(timer);
        resolve();
      };
      // The caller ends the streams right after this call; a count of 0 now is final.
      queueMicrotask(() => {
        if (this.count === 0) this.#idle?.();
      });
    });
  }
}

/**
 * Node's response object, with room for the subscriber it streams to: one shared
 * `close` listener then finds the subscriber without a closure per stream.
 */
class StreamResponse extends ServerResponse<IncomingMessage> {
  subscriber: ResponseSubscriber | null = null;
}

/** As with `Deno.serve`: requests without a Host header are served, small writes go out at once. */
const SERVER_OPTIONS = {
  requireHostHeader: false,
  noDelay: true,
  IncomingMessage,
  ServerResponse: StreamResponse,
};

type StreamServer = Server<typeof IncomingMessage, typeof StreamResponse>;

/**
 * Node keeps a response's head for the connection's life as a tree of some 30
 * concatenated pieces (about 1 KB per open stream). Reading one character makes V8
 * flatten it in place into one string of about 250 bytes.
 */
function compactHead(res: ServerResponse): void {
  const head = (res as unknown as { _header?: unknown })._header;
  if (typeof head === "string") head.charCodeAt(0);
}

function onStreamClose(this: StreamResponse): void {
  this.subscriber?.gone();
}

/**
 * A subscriber writing to a `ServerResponse`. Bytes sent before the head is written (the
 * first keepalive, a replay) are held and counted until {@link begin}.
 */
class ResponseSubscriber extends Subscriber {
  readonly #res: StreamResponse;
  readonly #streams: OpenStreams;
  #held: Uint8Array[] | null = [];
  #heldBytes = 0;

  constructor(opts: SubscriberOptions, res: StreamResponse, streams: OpenStreams) {
    super(opts);
    this.#res = res;
    this.#streams = streams;
  }

  /** Bytes written but not yet taken by the socket (Node's `writableLength`). */
  get queuedBytes(): number {
    if (this.closed) return 0;
    return this.#held ? this.#heldBytes : this.#res.writableLength;
  }

  /** Writes the head and the held bytes; from now on bytes go straight to the response. */
  begin(status: number, headers: Record<string, string>): void {
    const res = this.#res;
    this.#streams.opened();
    res.subscriber = this;
    res.on("close", onStreamClose);
    res.writeHead(status, headers);
    compactHead(res);
    for (const bytes of this.#held ?? []) res.write(bytes);
    this.#held = null;
  }

  /** The response closed (once): the client left, or the stream ended here. */
  gone(): void {
    this.#streams.closed();
    this.ended();
  }

  protected write(bytes: Uint8Array): void {
    if (this.#held) {
      this.#held.push(bytes);
      this.#heldBytes += bytes.byteLength;
    } else {
      this.#res.write(bytes);
    }
  }

  protected end(abort: boolean): void {
    if (this.#held) this.#held = [];
    else if (abort) this.#res.destroy();
    else this.#res.end();
  }
}

/** One request's view of its connection; remembers the stream it opened, if any. */
class NodePeer implements Peer {
  subscriber: ResponseSubscriber | null = null;

  constructor(
    readonly address: string,
    readonly httpVersion: string,
    readonly res: StreamResponse,
    readonly streams: OpenStreams,
  ) {}

  openStream(opts: SubscriberOptions): OpenStream {
    this.subscriber = new ResponseSubscriber(opts, this.res, this.streams);
    return { subscriber: this.subscriber, body: null };
  }
}

/** An `IncomingMessage` as the handler reads it. */
class MessageCall implements Call {
  constructor(readonly req: IncomingMessage, readonly res: ServerResponse) {}

  get method(): string {
    return this.req.method ?? "GET";
  }

  /** Node gives the target as sent: usually origin-form (`/a?b`), absolute-form for proxies. */
  get path(): string {
    const url = this.req.url ?? "/";
    if (!url.startsWith("/")) return pathOf(url);
    const query = url.indexOf("?");
    return query < 0 ? url : url.slice(0, query);
  }

  header(name: string): string | null {
    const value = this.req.headers[name];
    if (value === undefined) return null;
    return Array.isArray(value) ? value.join(", ") : value;
  }

  /**
   * Reads the body, stopping once it passes `limit`; a body declared longer is not read
   * at all. A body not read to its end leaves the connection unusable, so it closes after
   * the answer.
   */
  body(limit: number): Promise<Uint8Array> {
    const { req, res } = this;
    if (Number(req.headers["content-length"] ?? 0) > limit) {
      res.shouldKeepAlive = false;
      return Promise.reject(tooLarge(limit));
    }
    return new Promise((resolve, reject) => {
      const chunks: Uint8Array[] = [];
      let total = 0;
      const stop = () => req.off("data", onData).off("end", onEnd).off("error", onError);
      const onData = (chunk: Uint8Array) => {
        chunks.push(chunk);
        total += chunk.byteLength;
        if (total <= limit) return;
        stop();
        req.pause();
        res.shouldKeepAlive = false;
        reject(tooLarge(limit));
      };
      const onEnd = () => {
        stop();
        resolve(chunks.length === 1 ? chunks[0]! : concat(chunks));
      };
      const onError = (err: unknown) => {
        stop();
        reject(new HttpError(400, `unreadable request: ${errorMessage(err)}`));
      };
      req.on("data", onData).on("end", onEnd).on("error", onError);
    });
  }
}

/** Writes a plain answer, with a Content-Length. */
function send(res: ServerResponse, reply: Reply): void {
  const text = reply.text ?? "";
  const headers: Record<string, string> = { ...reply.headers };
  if (reply.status !== 204 && reply.status !== 304) {
    headers["Content-Length"] = String(Buffer.byteLength(text));
  }
  res.writeHead(reply.status, headers);
  res.end(text);
}

function failed(err: unknown): Reply {
  if (!(err instanceof SlowSubscriberError)) {
    log.error("request failed", { error: errorMessage(err) });
  }
  const headers = { "Content-Type": "text/plain; charset=utf-8" };
  return { status: 500, headers, text: "internal error\n", stream: null };
}

/** The listeners and the streams they carry, for shutdown. */
class NodeEngine implements Engine {
  readonly #handler: Handler;
  readonly #servers: StreamServer[] = [];
  readonly #streams = new OpenStreams();

  constructor(handler: Handler) {
    this.#handler = handler;
  }

  get port(): number {
    return portOf(this.#servers[0]);
  }

  get tlsPort(): number {
    return portOf(this.#servers[1]);
  }

  /** Starts one listener; resolves once it is bound. */
  async add(server: StreamServer, hostname: string, port: number, tls: boolean): Promise<void> {
    server.on("request", (req: IncomingMessage, res: StreamResponse) => {
      this.#serve(req, res).catch((err) => {
        log.error("response failed", { error: errorMessage(err) });
        res.destroy();
      });
    });
    this.#servers.push(server);
    requireNet(hostname, port);
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, hostname, () => {
        server.off("error", reject);
        resolve();
      });
    });
    server.on("error", (err) => log.error("listener failed", { error: errorMessage(err) }));
    const scheme = tls ? "HTTPS" : "HTTP";
    log.info(`listening for ${scheme}`, {
      address: hostname,
      port: portOf(server),
      engine: "node",
    });
  }

  async shutdown(): Promise<void> {
    const closed = this.#servers.map((s) =>
      new Promise<void>((resolve) => s.close(() => resolve()))
    );
    await this.#streams.drained(FLUSH_MS);
    for (const server of this.#servers) server.closeAllConnections();
    await Promise.all(closed);
  }

  async #serve(req: IncomingMessage, res: StreamResponse): Promise<void> {
    const address = req.socket.remoteAddress ?? "";
    const peer = new NodePeer(address, req.httpVersion, res, this.#streams);
    let reply: Reply;
    try {
      reply = await this.#handler(new MessageCall(req, res), peer);
    } catch (err) {
      reply = failed(err);
    }
    const sub = peer.subscriber;
    if (sub && !sub.closed && reply.stream) {
      sub.begin(reply.status, reply.headers);
      return;
    }
    sub?.close("client");
    send(res, reply);
  }
}

/**
 * `node:net` inside Deno reports a missing net permission as an uncaught exception rather
 * than a listen error, so ask first (this prompts when Deno runs with a terminal).
 */
function requireNet(hostname: string, port: number): void {
  const host = hostname.includes(":") ? `[${hostname}]:${port}` : `${hostname}:${port}`;
  if (Deno.permissions.requestSync({ name: "net", host }).state !== "granted") {
    throw new Error(`net access to ${host} not granted (--allow-net)`);
  }
}

function portOf(server: StreamServer | undefined): number {
  const addr = server?.address();
  return addr && typeof addr === "object" ? addr.port : 0;
}

/**
 * Starts `node:http` listeners: plain HTTP, and `node:https` when `opts.tls` is set.
 *
 * @throws {Error} naming the address and port that could not be bound.
 */
export async function serveNode(handler: Handler, opts: ListenOptions): Promise<Engine> {
  const engine = new NodeEngine(handler);
  let port = opts.port;
  try {
    await engine.add(createServer(SERVER_OPTIONS), opts.hostname, port, false);
    if (opts.tls) {
      port = opts.tls.port;
      const { cert, key } = opts.tls;
      await engine.add(
        createTlsServer({ ...SERVER_OPTIONS, cert, key }),
        opts.hostname,
        port,
        true,
      );
    }
  } catch (err) {
    await engine.shutdown();
    throw new Error(`cannot listen on ${opts.hostname} port ${port}: ${errorMessage(err)}`);
  }
  return engine;
}
