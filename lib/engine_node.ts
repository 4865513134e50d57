/**
 * The `node:http` engine (`server.engine: node`): the same handler behind Node's HTTP
 * server inside Deno. Requests become `Request`s; plain answers are copied from the
 * `Response`; a subscriber writes straight to its `ServerResponse`, so an open stream
 * costs Node's connection objects and no `ReadableStream`.
 *
 * Unlike `Deno.serve`, this engine sees the HTTP version, so an HTTP/1.0 subscriber gets
 * PyPubSub's answer (an empty 200) instead of a stream.
 *
 * @module
 */

import { concat } from "./bytes.ts";
import { createServer, IncomingMessage, type Server, ServerResponse } from "node:http";
import { createServer as createTlsServer } from "node:https";
import type { Engine, Handler, ListenOptions, OpenStream, Peer } from "./engine.ts";
import { errorMessage, log } from "./log.ts";
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

/** The fields of Node's response that hold its head; not in `node:http`'s types. */
interface HeadFields {
  _header: string | null;
  _headerSent: boolean;
}

/**
 * What stands in for a head that has gone out. Node reads `_header` afterwards only as a
 * flag (the head was written), so any short non-empty string serves, shared by all.
 */
const SENT_HEAD = "\r\n";

const NO_RAW_HEADERS: string[] = Object.freeze([]) as unknown as string[];
const NO_HEADERS = Object.freeze({});

/**
 * Drops what Node keeps of a stream's request and head for the connection's life, once
 * the head has been written to the socket: the head string (about 250 bytes), the raw
 * and the parsed request headers. A stream reads none of them again, and Node reads the
 * head afterwards only to know it was sent.
 */
function releaseHead(res: StreamResponse): void {
  const head = res as unknown as HeadFields;
  if (head._headerSent) head._header = SENT_HEAD;
  const req = res.req;
  req.rawHeaders = NO_RAW_HEADERS;
  req.rawTrailers = NO_RAW_HEADERS;
  req.headers = NO_HEADERS;
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

  /**
   * Writes the head and the held bytes (at least the hub's first keepalive line, so the
   * head goes out here); from now on bytes go straight to the response.
   */
  begin(status: number, headers: string[]): void {
    const res = this.#res;
    this.#streams.opened();
    res.subscriber = this;
    res.on("close", onStreamClose);
    res.writeHead(status, headers);
    for (const bytes of this.#held ?? []) res.write(bytes);
    this.#held = null;
    releaseHead(res);
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

/**
 * Reads a body for the handler, stopping once it passes `limit` (the handler answers 413
 * from the length). A body declared longer than `limit` is not read at all. A body not
 * read to its end leaves the connection unusable, so it closes after the answer.
 */
function readBody(
  req: IncomingMessage,
  res: ServerResponse,
  limit: number,
): Promise<Uint8Array<ArrayBuffer>> {
  if (Number(req.headers["content-length"] ?? 0) > limit) {
    res.shouldKeepAlive = false;
    return Promise.resolve(new Uint8Array(0));
  }
  return new Promise((resolve, reject) => {
    const chunks: Uint8Array<ArrayBuffer>[] = [];
    let total = 0;
    const done = (cut: boolean) => {
      req.off("data", onData).off("end", onEnd).off("error", reject);
      if (cut) {
        req.pause();
        res.shouldKeepAlive = false;
      }
      resolve(chunks.length === 1 ? chunks[0]! : concat(chunks));
    };
    const onData = (chunk: Uint8Array<ArrayBuffer>) => {
      chunks.push(chunk);
      total += chunk.byteLength;
      if (total > limit) done(true);
    };
    const onEnd = () => done(false);
    req.on("data", onData).on("end", onEnd).on("error", reject);
  });
}

/**
 * The request as a `Request`. The headers are appended to the request's own `Headers`:
 * passing a `Headers` (or pairs) to the constructor makes it copy them through WebIDL
 * conversion, which allocates about three times as much per request.
 */
async function toRequest(
  req: IncomingMessage,
  res: ServerResponse,
  origin: string,
  limit: number,
): Promise<Request> {
  const method = req.method ?? "GET";
  const hasBody = method !== "GET" && method !== "HEAD" &&
    (req.headers["content-length"] !== undefined || req.headers["transfer-encoding"] !== undefined);
  const body = hasBody ? await readBody(req, res, limit) : null;
  const request = new Request(origin + (req.url ?? "/"), { method, body });
  const headers = request.headers;
  const raw = req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) headers.append(raw[i]!, raw[i + 1]!);
  return request;
}

/**
 * Copies a plain `Response` to Node, with a Content-Length. The body is read with
 * `bytes()` alone: asking for `response.body` first would build a stream for it.
 */
async function reply(res: ServerResponse, response: Response): Promise<void> {
  const body = await response.bytes();
  const headers = flatHeaders(response);
  if (response.status !== 204 && response.status !== 304) {
    headers.push("content-length", String(body.byteLength));
  }
  res.writeHead(response.status, headers);
  res.end(body);
}

function flatHeaders(response: Response): string[] {
  const headers: string[] = [];
  response.headers.forEach((value, name) => headers.push(name, value));
  return headers;
}

const TEXT = { "content-type": "text/plain; charset=utf-8" };

function failed(err: unknown): Response {
  if (!(err instanceof SlowSubscriberError)) {
    log.error("request failed", { error: errorMessage(err) });
  }
  return new Response("internal error\n", { status: 500, headers: TEXT });
}

/** A request Node parsed but `Request` refuses (say, its target), or a body cut short. */
function unreadable(err: unknown, peer: Peer): Response {
  const reason = errorMessage(err);
  log.info("request refused", { peer: peer.address, status: 400, reason });
  return new Response(`unreadable request: ${reason}\n`, { status: 400, headers: TEXT });
}

/** The listeners and the streams they carry, for shutdown. */
class NodeEngine implements Engine {
  readonly #handler: Handler;
  readonly #maxBodyBytes: () => number;
  readonly #servers: StreamServer[] = [];
  readonly #streams = new OpenStreams();

  constructor(handler: Handler, opts: ListenOptions) {
    this.#handler = handler;
    this.#maxBodyBytes = opts.maxBodyBytes;
  }

  get port(): number {
    return portOf(this.#servers[0]);
  }

  get tlsPort(): number {
    return portOf(this.#servers[1]);
  }

  /** Starts one listener; resolves once it is bound. */
  async add(server: StreamServer, hostname: string, port: number, tls: boolean): Promise<void> {
    const origin = tls ? "https://localhost" : "http://localhost";
    server.on("request", (req: IncomingMessage, res: StreamResponse) => {
      this.#serve(req, res, origin).catch((err) => {
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

  async #serve(req: IncomingMessage, res: StreamResponse, origin: string): Promise<void> {
    const address = req.socket.remoteAddress ?? "";
    const peer = new NodePeer(address, req.httpVersion, res, this.#streams);
    let response: Response;
    try {
      const request = await toRequest(req, res, origin, this.#maxBodyBytes());
      try {
        response = await this.#handler(request, peer);
      } catch (err) {
        response = failed(err);
      }
    } catch (err) {
      response = unreadable(err, peer);
    }
    const sub = peer.subscriber;
    if (sub && !sub.closed && response.status === 200) {
      sub.begin(response.status, flatHeaders(response));
      return;
    }
    sub?.close("client");
    await reply(res, response);
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
  const engine = new NodeEngine(handler, opts);
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
