/**
 * The HTTP side: routing, status codes and headers. Everything about who gets which event
 * lives in the hub; accepting connections lives in the engine (`lib/http/engine.ts`).
 *
 * @module
 */

import type { Acl, Principal } from "../auth/acl.ts";
import { authenticate, reevaluate } from "../auth/login.ts";
import type { Config, EngineName } from "../config.ts";
import type { Call, Engine, Handler, ListenOptions, Peer, Reply } from "./engine.ts";
import { serveDeno } from "./engine_deno.ts";
import { serveNode } from "./engine_node.ts";
import { buildEvent, type Event, PayloadError, type PublishTarget } from "../core/event.ts";
import type { CursorReplay, History } from "../history/history.ts";
import { HttpError } from "./error.ts";
import { Hub } from "../core/hub.ts";
import type { LdapAuthenticator } from "../auth/ldap.ts";
import { errorMessage, log } from "../log.ts";
import { ServiceMetrics } from "../ops/metrics.ts";
import { allowed } from "../auth/net.ts";
import { basicCredentials, type Credentials, unauthorized } from "./request.ts";
import type { CloseReason, Subscriber } from "../core/subscriber.ts";
import { parsePublishPath, parseSubscription, TopicError } from "../core/topics.ts";
import { VERSION } from "../version.ts";

/** The content type of a subscription stream, as PyPubSub sends it. */
export const STREAM_TYPE = "application/vnd.pypubsub-stream";

const ACCEPTED = "Payload received, thank you very much!\n";
const SERVER = `DenoPubSub/${VERSION}`;

/** Settings that can change on reload; swapped together as one snapshot. */
export interface Settings {
  readonly config: Config;
  readonly acl: Acl;
  /** LDAP logins for users the ACL file does not name (`clients.ldap`). */
  readonly ldap: LdapAuthenticator | null;
}

/** An accepted event, and when it is stored. */
export interface Published {
  readonly event: Event;
  /** Settles once the event is as durable as `server.backlog.sync` asks. */
  readonly stored: Promise<void>;
}

export type { Peer } from "./engine.ts";

/**
 * The service: a hub plus the request handler and its listeners.
 *
 * @example
 * ```ts ignore
 * import { PubSubServer } from "./server.ts";
 * const server = new PubSubServer({ config, acl, ldap: null });
 * await server.listen();
 * console.log(server.port);
 * await server.close();
 * ```
 */
export class PubSubServer {
  readonly hub: Hub;
  readonly metrics: ServiceMetrics;
  #settings: Settings;
  #engine: Engine | null = null;
  #allowedFor: Settings | null = null;
  readonly #allowedAddresses = new Map<string, boolean>();
  /** One function for every subscriber, rather than a closure each. */
  readonly #onClose = (sub: Subscriber, reason: CloseReason) => this.hub.unsubscribe(sub, reason);

  readonly history: History;

  /**
   * @param history where accepted events are kept for replay (the app opens and closes it).
   */
  constructor(settings: Settings, history: History, metrics = new ServiceMetrics()) {
    this.#settings = settings;
    this.history = history;
    this.metrics = metrics;
    this.hub = new Hub({ keepalive: settings.config.server.keepalive, metrics });
    metrics.subscribers.read = () => this.hub.size;
    metrics.historyEvents.read = () => history.size;
    this.#registerAuthMetrics();
  }

  /** Authentication counters, read from whichever ACL and LDAP client are in force. */
  #registerAuthMetrics(): void {
    const { registry } = this.metrics;
    const acl = () => this.#settings.acl.stats();
    const ldap = () => this.#settings.ldap?.stats();
    const counters: [string, string, () => number][] = [
      ["acl_password_checks", "Password checks against the ACL file.", () => acl().checks],
      ["acl_cache_hits", "ACL password checks answered from the cache.", () => acl().cacheHits],
      ["ldap_binds", "LDAP binds made to check a password.", () => ldap()?.binds ?? 0],
      ["ldap_cache_hits", "LDAP logins answered from the cache.", () => ldap()?.cacheHits ?? 0],
      [
        "ldap_cache_misses",
        "LDAP logins that needed the directory.",
        () => ldap()?.cacheMisses ?? 0,
      ],
      [
        "ldap_unavailable",
        "LDAP logins refused because LDAP was down or slow.",
        () => ldap()?.unavailable ?? 0,
      ],
    ];
    for (const [name, help, read] of counters) {
      registry.reading(
        `denopubsub_${name}_total`,
        `${help} Restarts from 0 on reload.`,
        read,
        "counter",
      );
    }
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
   * re-evaluated at once so a removed user or a shrunk segment stops receiving private
   * events.
   */
  reload(next: Settings): void {
    const before = this.#settings.config.server;
    const after = next.config.server;
    const listener = (s: Config["server"]) => JSON.stringify([s.port, s.bind, s.tls, s.engine]);
    if (listener(before) !== listener(after)) {
      log.warn("listener settings changed; they take effect after a restart");
    }
    this.#settings = next;
    this.hub.forEach((sub) => {
      if (sub.principal) sub.principal = reevaluate(sub.principal, next);
    });
  }

  /** Starts the HTTP listener, and the HTTPS one when `server.tls` is set. */
  async listen(): Promise<void> {
    const { server } = this.#settings.config;
    try {
      this.#engine = await listen(server.engine, (call, peer) => this.handle(call, peer), {
        hostname: server.bind,
        port: server.port,
        tls: server.tls,
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
  async handle(call: Call, peer: Peer): Promise<Reply> {
    const received = performance.now();
    this.metrics.requests.inc();
    try {
      return await this.#route(call, peer, received);
    } catch (err) {
      if (!(err instanceof HttpError)) throw err;
      const status = String(err.status);
      this.metrics.refused.inc([status]);
      if (call.method === "PUT" || call.method === "POST") {
        this.metrics.rejected.inc(["http", status]);
      }
      log.info("request refused", {
        method: call.method,
        path: call.path,
        peer: peer.address,
        status: err.status,
        reason: err.message,
      });
      return this.#respond(err.message + "\n", err.status, err.headers);
    }
  }

  #route(call: Call, peer: Peer, received: number): Promise<Reply> | Reply {
    switch (call.method) {
      case "GET":
        return this.#subscribe(call, peer);
      case "PUT":
      case "POST":
        return this.#publish(call, peer, received);
      case "HEAD":
        return this.#respond(null, 204);
      default:
        throw new HttpError(405, `method ${call.method} not allowed`, {
          Allow: "GET, HEAD, PUT, POST",
        });
    }
  }

  /** The headers every response carries; a plain record is cheaper than a `Headers`. */
  #headers(extra?: Record<string, string>): Record<string, string> {
    return {
      ...extra,
      "Server": SERVER,
      "X-Subscribers": String(this.hub.size),
      "X-Requests": String(this.metrics.requests.value),
    };
  }

  /** A plain answer; the engine sends `text` as `text/plain` (see {@link Reply.text}). */
  #respond(text: string | null, status: number, extra?: Record<string, string>): Reply {
    return { status, headers: this.#headers(extra), text, stream: null };
  }

  /**
   * Who the request logs in as: null at once, with nothing to await, when it carries no
   * credentials (most publishers); otherwise the login under way.
   */
  #principal(call: Call): Promise<Principal | null> | null {
    const credentials = basicCredentials(call.header("authorization"));
    return credentials === null ? null : this.#login(credentials);
  }

  async #login(credentials: Credentials): Promise<Principal | null> {
    const settings = this.#settings;
    const principal = await authenticate(settings, credentials);
    // A reload while the check ran: hold what the new settings grant, as open streams do.
    return settings === this.#settings ? principal : reevaluate(principal, this.#settings);
  }

  /** HTTP/1.0 gets PyPubSub's answer, an empty 200: a stream needs chunked encoding. */
  async #subscribe(call: Call, peer: Peer): Promise<Reply> {
    const topicSets = topicsOr400(parseSubscription, call.path);
    const principal = await this.#principal(call);
    if (peer.httpVersion === "1.0") return this.#respond(null, 200);
    const { config } = this.#settings;
    const agent = call.header("user-agent") ?? "";
    const stream = peer.openStream({
      topicSets,
      oldschool: config.clients.oldschoolers.some((ua) => agent.includes(ua)),
      principal,
      maxQueuedBytes: config.server.maxQueuedBytes,
      onClose: this.#onClose,
    });
    // No await from here on: the replay is read and the subscriber registered in one
    // step, so no event falls between the history and the live stream, and none twice.
    const replay = this.#replay(call);
    this.hub.subscribe(stream.subscriber, replay.events);
    const headers = this.#headers({ "Content-Type": STREAM_TYPE, "Cache-Control": "no-cache" });
    if (replay.truncated) headers["X-Backlog-Truncated"] = "true";
    return { status: 200, headers, text: null, stream };
  }

  /** The retained events a subscriber asked for with `X-Fetch-Since(-Cursor)`. */
  #replay(call: Call): CursorReplay {
    const cursor = call.header("x-fetch-since-cursor");
    if (cursor !== null) return this.history.after(cursor.trim());
    const since = call.header("x-fetch-since");
    if (since === null) return { events: [], truncated: false };
    const seconds = Number(since);
    if (since.trim() === "" || !Number.isFinite(seconds)) {
      throw new HttpError(400, `X-Fetch-Since must be seconds since the epoch, got "${since}"`);
    }
    return { events: this.history.since(seconds), truncated: false };
  }

  /**
   * Builds an event from a validated target and body, keeps it in the history and delivers
   * it: the one path every publish takes, from HTTP or SQS. Counts it and observes the
   * time since `receivedAt`.
   *
   * @param receivedAt `performance.now()` when the publish arrived.
   * @param body the body as received (UTF-8 bytes), or as text.
   * @returns the event, and a promise that settles once it is as durable as
   * `server.backlog.sync` asks (at once unless sync is on).
   * @throws {PayloadError} when `body` is not exactly one JSON object in valid UTF-8.
   */
  publishEvent(
    target: PublishTarget,
    body: string | Uint8Array,
    receivedAt = performance.now(),
  ): Published {
    const event = buildEvent(target, body);
    const stored = this.history.append(event);
    this.hub.publish(event);
    this.metrics.accepted.inc();
    this.metrics.publishSeconds.observe((performance.now() - receivedAt) / 1000);
    return { event, stored };
  }

  async #publish(call: Call, peer: Peer, received: number): Promise<Reply> {
    const { config } = this.#settings;
    const target = topicsOr400(parsePublishPath, call.path);
    const login = this.#principal(call);
    const principal = login === null ? null : await login;
    this.#checkPublisher(principal, peer, target.topics);
    const body = await call.body(config.server.maxPayloadSize);
    let published: Published;
    try {
      published = this.publishEvent(target, body, received);
    } catch (err) {
      if (err instanceof PayloadError) throw new HttpError(400, err.message);
      throw err;
    }
    try {
      await published.stored;
    } catch (err) {
      throw new HttpError(503, `event delivered live but not stored: ${errorMessage(err)}`);
    }
    return this.#respond(ACCEPTED, 202);
  }

  /**
   * Whether `address` is in `clients.payloaders`, remembered per settings snapshot: the
   * CIDR check is big-integer work, and publishers reconnect from few addresses.
   */
  #mayPublishFrom(address: string): boolean {
    const settings = this.#settings;
    if (this.#allowedFor !== settings || this.#allowedAddresses.size >= 1024) {
      this.#allowedFor = settings;
      this.#allowedAddresses.clear();
    }
    let ok = this.#allowedAddresses.get(address);
    if (ok === undefined) {
      ok = allowed(settings.config.clients.payloaders, address);
      this.#allowedAddresses.set(address, ok);
    }
    return ok;
  }

  /**
   * A path with a secure topic needs a user granted every secure topic in it (from any
   * address, as in PyPubSub); any other path needs an address in `clients.payloaders`.
   */
  #checkPublisher(principal: Principal | null, peer: Peer, topics: readonly string[]): void {
    const secure = this.#settings.config.clients.secureTopics;
    const needed = secure.size === 0 ? null : topics.filter((topic) => secure.has(topic));
    if (needed !== null && needed.length > 0) {
      if (!principal) throw unauthorized(`publishing to ${needed.join(", ")} needs a login`);
      const missing = needed.filter((topic) => !principal.topics.has(topic));
      if (missing.length > 0) {
        throw new HttpError(403, `user ${principal.user} may not publish to ${missing.join(", ")}`);
      }
      return;
    }
    if (!this.#mayPublishFrom(peer.address)) {
      throw new HttpError(403, `address ${peer.address} is not allowed to publish`);
    }
  }
}

function topicsOr400<T>(parse: (path: string) => T, path: string): T {
  try {
    return parse(path);
  } catch (err) {
    if (err instanceof TopicError) throw new HttpError(400, err.message);
    throw err;
  }
}

/**
 * Starts the listeners of the named engine.
 *
 * @throws {Error} "cannot listen on ADDRESS port N: why" when a listener cannot start;
 * listeners already started are stopped first.
 */
function listen(name: EngineName, handler: Handler, opts: ListenOptions): Promise<Engine> {
  return name === "node" ? serveNode(handler, opts) : serveDeno(handler, opts);
}
