/**
 * The `node:http` engine (`server.engine: node`): the same handler behind Node's HTTP
 * server inside Deno. The handler reads Node's `IncomingMessage` through a {@link Call};
 * its {@link Reply} is written to the `ServerResponse`. A stream's head goes out through
 * Node's `ServerResponse`; then the stream takes the connection over from Node's HTTP
 * server and writes its chunks to the socket itself, so an idle stream costs a socket and
 * a subscriber, not Node's request, response, parser and per-connection listeners (about
 * 3.5 KB less per stream).
 *
 * Unlike `Deno.serve`, this engine sees the HTTP version, so an HTTP/1.0 subscriber gets
 * PyPubSub's answer (an empty 200) instead of a stream.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { freeParser } from "node:_http_common";
import { createServer, IncomingMessage, type Server, ServerResponse } from "node:http";
import { createServer as createTlsServer } from "node:https";
import type { Socket } from "node:net";
import { nextTick } from "node:process";
import { concat } from "../core/bytes.ts";
import type { Engine, Handler, ListenOptions, OpenStream, Peer, Reply } from "./engine.ts";
import { HttpError } from "./error.ts";
import { errorMessage, log } from "../log.ts";
import { tooLarge } from "./request.ts";
import { IncomingCall } from "./node_call.ts";
import { StreamCutError, Subscriber, type SubscriberOptions } from "../core/subscriber.ts";
import { NodeSockets } from "./ws_node.ts";
import { type BodyDeadline, bodyWithin, Deadlines, sweepPeriodMs } from "./timeouts.ts";
import { nodeTimeoutOptions, reportTimeouts } from "./node_timeouts.ts";

/** How long shutdown waits for ended streams to flush before cutting connections. */
const FLUSH_MS = 2000;

/**
 * The open streams of an engine, so that shutdown can wait for their last bytes, and the
 * connections streams took over from Node, which shutdown cuts itself.
 */
class OpenStreams {
  count = 0;
  readonly #sockets = new Set<StreamSocket>();
  #idle: (() => void) | null = null;

  opened(): void {
    this.count++;
  }

  adopted(socket: StreamSocket): void {
    this.#sockets.add(socket);
  }

  closed(socket: StreamSocket | null): void {
    if (socket) this.#sockets.delete(socket);
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

  /** Cuts the connections taken over from Node; Node's own list no longer has them. */
  cut(): void {
    for (const socket of this.#sockets) socket.destroy();
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

/** A connection as Node's HTTP server leaves it (fields outside `node:net`'s types). */
interface StreamSocket extends Socket {
  parser: { finish(): unknown } | null;
  server: Record<symbol, unknown>;
  _httpMessage: unknown;
  /** Set once a stream has taken the connection over. */
  subscriber?: ResponseSubscriber;
}

/**
 * The listeners Node's HTTP server keeps on a connection, by event and function name.
 * Taking a connection over removes exactly these, as Node does itself before handing a
 * socket to an `upgrade` listener; a connection without all of them is left to Node.
 */
const HTTP_LISTENERS: readonly (readonly [string, string])[] = [
  ["data", "bound socketOnData"],
  ["end", "bound socketOnEnd"],
  ["close", "onConnectionClose"],
  ["close", "bound socketOnClose"],
  ["close", "onServerResponseClose"],
  ["drain", "bound socketOnDrain"],
  ["error", "socketOnError"],
  ["timeout", "socketOnTimeout"],
];

type Listener = (...args: unknown[]) => void;

function httpListeners(socket: StreamSocket): [string, Listener][] | null {
  const found: [string, Listener][] = [];
  for (const [event, name] of HTTP_LISTENERS) {
    const listener = (socket.listeners(event) as Listener[]).find((fn) => fn.name === name);
    if (!listener) return null;
    found.push([event, listener]);
  }
  return found;
}

/** The key of the server's list of connections, found on the first takeover. */
let connectionsKey: symbol | undefined;

interface Connections {
  remove(socket: StreamSocket): void;
}

function connectionsOf(server: Record<symbol, unknown>): Connections | null {
  connectionsKey ??= Object.getOwnPropertySymbols(server)
    .find((key) => key.description === "http.server.connections");
  const list = connectionsKey && server[connectionsKey] as Partial<Connections> | undefined;
  return typeof list?.remove === "function" ? list as Connections : null;
}

function onSocketClose(this: StreamSocket): void {
  this.subscriber?.gone();
}

/** The client ended its side: end ours, as Node's HTTP server does. */
function onSocketEnd(this: StreamSocket): void {
  this.end();
}

/** An error destroys the socket, and its `close` ends the stream. */
function onSocketError(): void {}

/**
 * Takes a streaming response's connection over from Node's HTTP server once its head and
 * first bytes are written: the server's listeners and its entry in the connection list
 * go, and the parser is freed, so the request, the response and the parser's state are
 * garbage. What stays per stream is the socket. Returns null, leaving the response to
 * Node, when the connection is not the plain one this expects (another response is ahead
 * of this one, bytes are still held in the response, or Node's internals differ).
 */
function takeOver(res: StreamResponse): StreamSocket | null {
  const socket = res.socket as StreamSocket | null;
  if (!socket?.writable || socket._httpMessage !== res || !socket.parser) return null;
  if (res.writableLength !== socket.writableLength) return null;
  const listeners = httpListeners(socket);
  const connections = connectionsOf(socket.server);
  if (!listeners || !connections) return null;
  for (const [event, listener] of listeners) socket.removeListener(event, listener);
  connections.remove(socket);
  socket._httpMessage = null;
  const parser = socket.parser;
  parser.finish();
  freeParser(parser, res.req, socket);
  socket.on("end", onSocketEnd).on("close", onSocketClose).on("error", onSocketError);
  socket.resume();
  return socket;
}

const encoder = new TextEncoder();
const CRLF = encoder.encode("\r\n");

/** The line last framed, and its chunk: a fan-out frames each event once, not per stream. */
let framedLine: Uint8Array | null = null;
let framedChunk = new Uint8Array(0);

/** `bytes` as one chunk of a chunked body, as Node's `write()` frames it. */
function chunkOf(bytes: Uint8Array): Uint8Array {
  if (bytes !== framedLine) {
    const size = encoder.encode(bytes.byteLength.toString(16) + "\r\n");
    const chunk = new Uint8Array(size.byteLength + bytes.byteLength + CRLF.byteLength);
    chunk.set(size);
    chunk.set(bytes, size.byteLength);
    chunk.set(CRLF, size.byteLength + bytes.byteLength);
    framedLine = bytes;
    framedChunk = chunk;
  }
  return framedChunk;
}

function uncork(socket: Socket): void {
  socket.uncork();
}

/**
 * Writes to a socket corked until the next tick, as Node's `write()` does: the chunks a
 * fan-out writes to one stream within a tick leave in one system call.
 */
function writeCorked(socket: Socket, chunk: Uint8Array): void {
  if (!socket.writableCorked) {
    socket.cork();
    nextTick(uncork, socket);
  }
  socket.write(chunk);
}

/**
 * A subscriber writing to a `ServerResponse`, and from its first bytes on straight to the
 * socket it took over (see {@link takeOver}). Bytes sent before the head is written (the
 * first keepalive, a replay) are held and counted until {@link begin}.
 */
class ResponseSubscriber extends Subscriber {
  #res: StreamResponse | null;
  #socket: StreamSocket | null = null;
  readonly #streams: OpenStreams;
  #held: Uint8Array[] | null = [];
  #heldBytes = 0;

  constructor(opts: SubscriberOptions, res: StreamResponse, streams: OpenStreams) {
    super(opts);
    this.#res = res;
    this.#streams = streams;
  }

  /** Bytes written but not yet taken by the kernel (Node's `writableLength`). */
  get queuedBytes(): number {
    if (this.closed) return 0;
    if (this.#held) return this.#heldBytes;
    return (this.#socket ?? this.#res!).writableLength;
  }

  /**
   * Writes the head and the held bytes (at least the hub's first keepalive line, so the
   * head goes out here), then takes the connection over; when Node keeps it, bytes go to
   * the response.
   */
  begin(status: number, headers: Record<string, string>): void {
    const res = this.#res!;
    this.#streams.opened();
    res.writeHead(status, headers);
    for (const bytes of this.#held ?? []) res.write(bytes);
    this.#held = null;
    const socket = takeOver(res);
    if (socket) {
      socket.subscriber = this;
      this.#socket = socket;
      this.#res = null;
      this.#streams.adopted(socket);
      return;
    }
    res.subscriber = this;
    res.on("close", onStreamClose);
    releaseHead(res);
    // The client may have left while the handler ran, before there was a listener.
    if (res.destroyed) this.gone();
  }

  /** The stream's connection closed (once): the client left, or the stream ended here. */
  gone(): void {
    this.#streams.closed(this.#socket);
    this.ended();
  }

  protected write(bytes: Uint8Array): void {
    if (this.#held) {
      this.#held.push(bytes);
      this.#heldBytes += bytes.byteLength;
    } else if (this.#socket) {
      writeCorked(this.#socket, chunkOf(bytes));
    } else {
      this.#res!.write(bytes);
    }
  }

  /**
   * Closes the connection without the chunked body's last chunk. With `flush` what was
   * written goes out first (`destroySoon`); shutdown cuts what has not left after
   * {@link FLUSH_MS}.
   */
  protected cut(flush: boolean): void {
    if (this.#held) {
      this.#held = [];
      return;
    }
    const socket = this.#socket ?? this.#res!.socket;
    if (flush && socket) socket.destroySoon();
    else if (this.#socket) this.#socket.destroy();
    else this.#res!.destroy();
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

  /** Upgrades come to {@link NodeSockets}, never here. */
  openSocket(): OpenStream | null {
    return null;
  }
}

/** An `IncomingMessage` as the handler reads it. */
class MessageCall extends IncomingCall {
  constructor(
    req: IncomingMessage,
    readonly res: ServerResponse,
    readonly deadline: BodyDeadline,
  ) {
    super(req);
  }

  /**
   * Reads the body, stopping once it passes `limit` or the body timeout; a body declared
   * longer is not read at all. A body not read to its end leaves the connection unusable,
   * so it closes after the answer.
   */
  body(limit: number): Promise<Uint8Array> {
    const { req, res } = this;
    if (Number(req.headers["content-length"] ?? 0) > limit) {
      res.shouldKeepAlive = false;
      return Promise.reject(tooLarge(limit));
    }
    let stop = () => {};
    const read = new Promise<Uint8Array>((resolve, reject) => {
      const chunks: Uint8Array[] = [];
      let total = 0;
      stop = () => req.off("data", onData).off("end", onEnd).off("error", onError);
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
    return bodyWithin(this.deadline, read, () => {
      stop();
      req.pause();
      res.shouldKeepAlive = false;
    });
  }
}

/** The type of a text answer that names none, as `Deno.serve` sends it. */
const TEXT_TYPE = "text/plain;charset=UTF-8";

/** Writes a plain answer, with a Content-Length. */
function send(res: ServerResponse, reply: Reply): void {
  const text = reply.text ?? "";
  const headers: Record<string, string> = { ...reply.headers };
  if (reply.text !== null) headers["Content-Type"] ??= TEXT_TYPE;
  if (reply.status !== 204 && reply.status !== 304) {
    headers["Content-Length"] = String(Buffer.byteLength(text));
  }
  res.writeHead(reply.status, headers);
  res.end(text);
}

function failed(err: unknown): Reply {
  if (!(err instanceof StreamCutError)) {
    log.error("request failed", { error: errorMessage(err) });
  }
  const headers = { "Content-Type": "text/plain; charset=utf-8" };
  return { status: 500, headers, text: "internal error\n", stream: null };
}

/** The listeners and the streams they carry, for shutdown. */
class NodeEngine implements Engine {
  readonly #handler: Handler;
  readonly #opts: ListenOptions;
  readonly #servers: StreamServer[] = [];
  readonly #streams = new OpenStreams();
  readonly #sockets = new NodeSockets();
  readonly #body: BodyDeadline;

  constructor(handler: Handler, opts: ListenOptions) {
    this.#handler = handler;
    this.#opts = opts;
    const deadlines = new Deadlines(sweepPeriodMs(opts.timeouts));
    this.#body = { deadlines, seconds: opts.timeouts.body };
  }

  /** Node's server options, with `server.timeouts`. */
  get serverOptions(): typeof SERVER_OPTIONS & ReturnType<typeof nodeTimeoutOptions> {
    return { ...SERVER_OPTIONS, ...nodeTimeoutOptions(this.#opts.timeouts) };
  }

  get port(): number {
    return portOf(this.#servers[0]);
  }

  get tlsPort(): number {
    return portOf(this.#servers[1]);
  }

  /** Starts one listener; resolves once it is bound. */
  async add(server: StreamServer, opts: ListenOptions, port: number, tls: boolean): Promise<void> {
    const { hostname, reusePort } = opts;
    server.on("request", (req: IncomingMessage, res: StreamResponse) => {
      this.#serve(req, res).catch((err) => {
        log.error("response failed", { error: errorMessage(err) });
        res.destroy();
      });
    });
    server.on("upgrade", (req: IncomingMessage, socket: Socket, head: Uint8Array) => {
      this.#sockets.upgrade(this.#handler, req, socket, head).catch((err) => {
        log.error("upgrade failed", { error: errorMessage(err) });
        socket.destroy();
      });
    });
    reportTimeouts(server, this.#opts.onTimeout);
    this.#servers.push(server);
    requireNet(hostname, port);
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen({ port, host: hostname, reusePort }, () => {
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
    await Promise.all([this.#streams.drained(FLUSH_MS), this.#sockets.close(FLUSH_MS)]);
    this.#streams.cut();
    for (const server of this.#servers) server.closeAllConnections();
    await Promise.all(closed);
    this.#body.deadlines.close();
  }

  async #serve(req: IncomingMessage, res: StreamResponse): Promise<void> {
    const address = req.socket.remoteAddress ?? "";
    const peer = new NodePeer(address, req.httpVersion, res, this.#streams);
    let reply: Reply;
    try {
      reply = await this.#handler(new MessageCall(req, res, this.#body), peer);
    } catch (err) {
      reply = failed(err);
    }
    const sub = peer.subscriber;
    if (sub && reply.stream) {
      // Ended before its head went out (shutdown came first): cut, like any stream.
      if (sub.closed) res.destroy();
      else sub.begin(reply.status, reply.headers);
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
  const engine = new NodeEngine(handler, opts);
  let port = opts.port;
  try {
    await engine.add(createServer(engine.serverOptions), opts, port, false);
    if (opts.tls) {
      port = opts.tls.port;
      const { cert, key } = opts.tls;
      await engine.add(
        createTlsServer({ ...engine.serverOptions, cert, key }),
        opts,
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
