/**
 * WebSocket subscribers on the `node:http` engine, through `npm:ws`: the engine hands
 * each `upgrade` request to {@link NodeSockets.upgrade}, which runs the same handler as
 * any request; a `101` answer completes the handshake, any other answer is written to the
 * socket as a plain HTTP response. One timer pings every socket, every
 * `server.websocket.ping` seconds; a peer that has not answered the previous ping by the
 * next one is cut.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import { STATUS_CODES } from "node:http";
// @ts-types="./ws_types.d.ts"
import { type WebSocket, WebSocketServer } from "ws";
import type { Handler, OpenStream, Peer, Reply } from "./engine.ts";
import { HttpError } from "./error.ts";
import { errorMessage, log } from "../log.ts";
import { IncomingCall } from "./node_call.ts";
import { type CloseReason, Subscriber, type SubscriberOptions } from "../core/subscriber.ts";
import { socketClose } from "./websocket.ts";

/** A close handshake the peer does not finish within this is cut, freeing what it queued. */
const CLOSE_TIMEOUT_MS = 2000;
/** Subscribers publish nothing; a client message is read only to be dropped. */
const MAX_CLIENT_MESSAGE = 64 * 1024;
const TEXT = { binary: false };

/** A subscriber whose frames are text messages on a `ws` socket, held until the handshake. */
class NodeSocketSubscriber extends Subscriber {
  #ws: WebSocket | null = null;
  #held: Uint8Array[] | null = [];
  #heldBytes = 0;
  /** False from a ping until its pong. */
  alive = true;

  constructor(
    opts: SubscriberOptions,
    readonly socket: Duplex,
    /** How often the peer is pinged. */
    readonly pingSeconds: number,
  ) {
    super(opts);
  }

  get queuedBytes(): number {
    if (this.closed) return 0;
    return this.#ws ? this.#ws.bufferedAmount : this.#heldBytes;
  }

  /** The handshake is done: send what was held, and listen for pongs and the end. */
  attach(ws: WebSocket, sockets: NodeSockets): void {
    this.#ws = ws;
    ws.on("pong", () => this.alive = true);
    ws.on("close", () => {
      sockets.delete(this);
      this.ended();
    });
    ws.on("error", () => {});
    const held = this.#held ?? [];
    this.#held = null;
    for (const bytes of held) ws.send(bytes, TEXT);
    if (this.closed) ws.terminate();
  }

  /** Pings the peer, or cuts it when the last ping went unanswered. */
  ping(): void {
    if (!this.alive) return this.#ws?.terminate();
    this.alive = false;
    this.#ws?.ping();
  }

  /** The connection closed before the handshake finished. */
  lost(): void {
    if (!this.#ws) this.ended();
  }

  protected write(bytes: Uint8Array): void {
    if (this.#ws) {
      this.#ws.send(bytes, TEXT);
    } else {
      this.#held!.push(bytes);
      this.#heldBytes += bytes.byteLength;
    }
  }

  /** A WebSocket has a close handshake of its own: it says why with a close code. */
  protected cut(_flush: boolean, reason: CloseReason): void {
    if (!this.#ws) {
      this.#held = [];
      return;
    }
    const { code, reason: text } = socketClose(reason);
    this.#ws.close(code, text);
  }
}

/** An upgrade request as the handler reads it; it has no body. */
class UpgradeCall extends IncomingCall {
  body(): Promise<Uint8Array> {
    return Promise.reject(new HttpError(400, "an upgrade request carries no body to publish"));
  }
}

/** An upgrade request's view of its connection: it can become a WebSocket, not a stream. */
class UpgradePeer implements Peer {
  subscriber: NodeSocketSubscriber | null = null;

  constructor(
    readonly address: string,
    readonly httpVersion: string,
    readonly socket: Duplex,
    /** The `Upgrade` header: the protocol asked for. */
    readonly protocol: string,
  ) {}

  openStream(): OpenStream {
    throw new HttpError(400, `upgrade to "${this.protocol}" is not supported`);
  }

  openSocket(opts: SubscriberOptions, pingSeconds: number): OpenStream | null {
    if (this.protocol.toLowerCase() !== "websocket") return null;
    this.subscriber = new NodeSocketSubscriber(opts, this.socket, pingSeconds);
    return { subscriber: this.subscriber, body: null };
  }
}

/** Writes a plain answer to a connection that was not upgraded, then ends it. */
function refuse(socket: Duplex, reply: Reply): void {
  const body = Buffer.from(reply.text ?? "");
  const head = [`HTTP/1.1 ${reply.status} ${STATUS_CODES[reply.status] ?? ""}`];
  for (const [name, value] of Object.entries(reply.headers)) head.push(`${name}: ${value}`);
  head.push(`Content-Length: ${body.byteLength}`, "Connection: close", "", "");
  socket.end(Buffer.concat([Buffer.from(head.join("\r\n")), body]));
}

/** The WebSocket subscribers of one engine, their handshakes and their pings. */
export class NodeSockets {
  readonly #server = new WebSocketServer({
    noServer: true,
    maxPayload: MAX_CLIENT_MESSAGE,
    closeTimeout: CLOSE_TIMEOUT_MS,
  });
  readonly #open = new Set<NodeSocketSubscriber>();
  #timer: ReturnType<typeof setInterval> | null = null;
  #pingSeconds = 0;

  /** Answers one `upgrade` request with `handler`, completing the handshake on a `101`. */
  async upgrade(
    handler: Handler,
    req: IncomingMessage,
    socket: Duplex,
    head: Uint8Array,
  ): Promise<void> {
    socket.on("error", () => {});
    const address = req.socket.remoteAddress ?? "";
    const peer = new UpgradePeer(address, req.httpVersion, socket, req.headers.upgrade ?? "");
    let reply: Reply;
    try {
      reply = await handler(new UpgradeCall(req), peer);
    } catch (err) {
      log.error("request failed", { error: errorMessage(err) });
      reply = { status: 500, headers: {}, text: "internal error\n", stream: null };
    }
    const sub = peer.subscriber;
    if (!sub || !reply.stream || sub.closed) {
      sub?.close("client");
      return refuse(socket, reply);
    }
    socket.once("close", () => sub.lost());
    this.#server.handleUpgrade(req, socket, head, (ws) => {
      this.#open.add(sub);
      this.#schedule(sub.pingSeconds);
      sub.attach(ws, this);
    });
  }

  /** Forgets a socket that closed. */
  delete(sub: NodeSocketSubscriber): void {
    this.#open.delete(sub);
  }

  /** Starts the ping timer, or restarts it when a reload changed its interval. */
  #schedule(seconds: number): void {
    if (this.#timer && seconds === this.#pingSeconds) return;
    if (this.#timer) clearInterval(this.#timer);
    this.#pingSeconds = seconds;
    this.#timer = setInterval(() => this.#ping(), seconds * 1000);
  }

  #ping(): void {
    for (const sub of this.#open) sub.ping();
  }

  /**
   * Stops pinging, gives the sockets up to `ms` to finish their close handshakes (the
   * caller closes the subscribers right after calling this), then cuts the rest.
   */
  async close(ms: number): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    const deadline = Date.now() + ms;
    while (this.#open.size > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    for (const sub of this.#open) sub.socket.destroy();
    this.#server.close();
  }
}
