/**
 * The HTTP side: routing, status codes and headers. Everything about who gets which event
 * lives in the hub; accepting connections lives in the engine (`lib/engine.ts`).
 *
 * @module
 */

import { Acl, type Principal } from "./acl.ts";
import type { Config } from "./config.ts";
import { type Engine, listen, type Peer } from "./engine.ts";
import { buildEvent, PayloadError } from "./event.ts";
import { HttpError } from "./http_error.ts";
import { Hub } from "./hub.ts";
import { log } from "./log.ts";
import { allowed } from "./net.ts";
import { basicCredentials, decodeUtf8, pathOf, readBody, unauthorized } from "./request.ts";
import type { CloseReason, Subscriber } from "./subscriber.ts";
import { parsePublishPath, parseSubscription, TopicError } from "./topics.ts";
import { VERSION } from "./version.ts";

/** The content type of a subscription stream, as PyPubSub sends it. */
export const STREAM_TYPE = "application/vnd.pypubsub-stream";

const ACCEPTED = "Payload received, thank you very much!\n";
const SERVER = `DenoPubSub/${VERSION}`;

/** Settings that can change on reload; swapped together as one snapshot. */
export interface Settings {
  readonly config: Config;
  readonly acl: Acl;
}

/** Counters of requests, for logs and metrics. */
export interface ServerCounters {
  requests: number;
  rejected: Record<string, number>;
}

export type { Peer } from "./engine.ts";

/**
 * The service: a hub plus the request handler and its listeners.
 *
 * @example
 * ```ts ignore
 * import { PubSubServer } from "./server.ts";
 * const server = new PubSubServer({ config, acl });
 * await server.listen();
 * console.log(server.port);
 * await server.close();
 * ```
 */
export class PubSubServer {
  readonly hub: Hub;
  readonly counters: ServerCounters = { requests: 0, rejected: {} };
  #settings: Settings;
  #engine: Engine | null = null;
  /** One function for every subscriber, rather than a closure each. */
  readonly #onClose = (sub: Subscriber, reason: CloseReason) => this.hub.unsubscribe(sub, reason);

  constructor(settings: Settings) {
    this.#settings = settings;
    this.hub = new Hub({ keepalive: settings.config.server.keepalive });
  }

  /** The settings in force. */
  get settings(): Settings {
    return this.#settings;
  }

  /** The bound port of the plain HTTP listener (useful with port 0). */
  get port(): number {
    return this.#engine?.port ?? 0;
  }

  /** The bound port of the TLS listener, or 0 when there is none. */
  get tlsPort(): number {
    return this.#engine?.tlsPort ?? 0;
  }

  /**
   * Swaps in new settings for new requests; open streams stay, and their principals are
   * re-read from the new ACL so a removed user stops receiving private events.
   */
  reload(next: Settings): void {
    const before = this.#settings.config.server;
    const after = next.config.server;
    if (
      before.port !== after.port || before.bind !== after.bind || before.tls !== after.tls ||
      before.engine !== after.engine
    ) {
      log.warn("listener settings changed; they take effect after a restart");
    }
    this.#settings = next;
    this.hub.forEach((sub) => {
      if (sub.principal) sub.principal = next.acl.principal(sub.principal.user);
    });
  }

  /** Starts the HTTP listener, and the HTTPS one when `server.tls` is set. */
  async listen(): Promise<void> {
    const { server } = this.#settings.config;
    try {
      this.#engine = await listen(server.engine, (req, peer) => this.handle(req, peer), {
        hostname: server.bind,
        port: server.port,
        tls: server.tls,
        maxBodyBytes: () => this.#settings.config.server.maxPayloadSize,
      });
    } catch (err) {
      this.hub.close();
      throw err;
    }
  }

  /** Stops accepting, ends every stream cleanly, and waits for the listeners to finish. */
  async close(): Promise<void> {
    const done = this.#engine?.shutdown();
    this.hub.close();
    await done;
    this.#engine = null;
  }

  /** Answers one request. Every response carries the `Server` and `X-*` headers. */
  async handle(req: Request, peer: Peer): Promise<Response> {
    this.counters.requests++;
    try {
      return await this.#route(req, peer);
    } catch (err) {
      if (!(err instanceof HttpError)) throw err;
      this.counters.rejected[err.status] = (this.counters.rejected[err.status] ?? 0) + 1;
      log.info("request refused", {
        method: req.method,
        path: pathOf(req.url),
        peer: peer.address,
        status: err.status,
        reason: err.message,
      });
      return this.#respond(err.message + "\n", err.status, err.headers);
    }
  }

  #route(req: Request, peer: Peer): Promise<Response> | Response {
    switch (req.method) {
      case "GET":
        return this.#subscribe(req, peer);
      case "PUT":
      case "POST":
        return this.#publish(req, peer);
      case "HEAD":
        return this.#respond(null, 204);
      default:
        throw new HttpError(405, `method ${req.method} not allowed`, {
          Allow: "GET, HEAD, PUT, POST",
        });
    }
  }

  #headers(extra?: Record<string, string>): Headers {
    const headers = new Headers(extra);
    headers.set("Server", SERVER);
    headers.set("X-Subscribers", String(this.hub.size));
    headers.set("X-Requests", String(this.counters.requests));
    return headers;
  }

  #respond(body: BodyInit | null, status: number, extra?: Record<string, string>): Response {
    const headers = this.#headers(extra);
    if (body !== null) headers.set("Content-Type", "text/plain; charset=utf-8");
    return new Response(body, { status, headers });
  }

  #principal(req: Request): Principal | null {
    const credentials = basicCredentials(req);
    if (!credentials) return null;
    const principal = this.#settings.acl.authenticate(credentials.user, credentials.password);
    if (!principal) throw unauthorized("wrong user name or password");
    return principal;
  }

  /** HTTP/1.0 gets PyPubSub's answer, an empty 200: a stream needs chunked encoding. */
  #subscribe(req: Request, peer: Peer): Response {
    const { config } = this.#settings;
    const topicSets = topicsOr400(() => parseSubscription(pathOf(req.url)));
    const principal = this.#principal(req);
    if (peer.httpVersion === "1.0") return this.#respond(null, 200);
    const agent = req.headers.get("user-agent") ?? "";
    const { subscriber, body } = peer.openStream({
      topicSets,
      oldschool: config.clients.oldschoolers.some((ua) => agent.includes(ua)),
      principal,
      maxQueuedBytes: config.server.maxQueuedBytes,
      onClose: this.#onClose,
    });
    this.hub.subscribe(subscriber);
    const headers = this.#headers({ "Content-Type": STREAM_TYPE, "Cache-Control": "no-cache" });
    return new Response(body, { status: 200, headers });
  }

  async #publish(req: Request, peer: Peer): Promise<Response> {
    const { config } = this.#settings;
    const path = pathOf(req.url);
    const target = topicsOr400(() => parsePublishPath(path));
    this.#checkPublisher(req, peer, target.topics);
    const body = decodeUtf8(await readBody(req, config.server.maxPayloadSize));
    let event;
    try {
      event = buildEvent(target, body);
    } catch (err) {
      if (err instanceof PayloadError) throw new HttpError(400, err.message);
      throw err;
    }
    this.hub.publish(event);
    return this.#respond(ACCEPTED, 202);
  }

  /**
   * A path with a secure topic needs a user granted every secure topic in it (from any
   * address, as in PyPubSub); any other path needs an address in `clients.payloaders`.
   */
  #checkPublisher(req: Request, peer: Peer, topics: readonly string[]): void {
    const { config } = this.#settings;
    const secure = config.clients.secureTopics;
    const principal = this.#principal(req);
    const needed = secure.size === 0 ? [] : topics.filter((topic) => secure.has(topic));
    if (needed.length > 0) {
      if (!principal) throw unauthorized(`publishing to ${needed.join(", ")} needs a login`);
      const missing = needed.filter((topic) => !principal.topics.has(topic));
      if (missing.length > 0) {
        throw new HttpError(403, `user ${principal.user} may not publish to ${missing.join(", ")}`);
      }
      return;
    }
    if (!allowed(config.clients.payloaders, peer.address)) {
      throw new HttpError(403, `address ${peer.address} is not allowed to publish`);
    }
  }
}

function topicsOr400<T>(parse: () => T): T {
  try {
    return parse();
  } catch (err) {
    if (err instanceof TopicError) throw new HttpError(400, err.message);
    throw err;
  }
}
