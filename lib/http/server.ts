/**
 * The HTTP side: routing, status codes and headers. Everything about who gets which event
 * lives in the hub; accepting connections lives in the engine (`lib/http/engine.ts`).
 *
 * Folder `lib/http/`: everything HTTP. This handler, the request helpers and `HttpError`,
 * the engine contract (`engine.ts`) and its two engines (`engine_deno.ts`, `engine_node.ts`),
 * which `listen` below picks from, so the contract never imports them.
 *
 * @module
 */

import type { Acl, Principal } from "../auth/acl.ts";
import { authenticate, reevaluate } from "../auth/login.ts";
import type { Config, EngineName } from "../config.ts";
import type { Call, Engine, Handler, ListenOptions, Peer, Reply } from "./engine.ts";
import { serveDeno } from "./engine_deno.ts";
import { serveNode } from "./engine_node.ts";
import { type Bus, BusError } from "../cluster/bus.ts";
import {
  buildEvent,
  checkPayload,
  type Event,
  PayloadError,
  type PublishTarget,
} from "../core/event.ts";
import type { History } from "../history/history.ts";
import { corsHeaders, preflightHeaders } from "./cors.ts";
import { HttpError } from "./error.ts";
import { NDJSON, OLDSCHOOL, SSE, WEBSOCKET } from "../core/framing.ts";
import { Hub } from "../core/hub.ts";
import type { LdapAuthenticator } from "../auth/ldap.ts";
import { errorMessage, log } from "../log.ts";
import { ServiceMetrics } from "../ops/metrics.ts";
import { allowed } from "../auth/net.ts";
import { ClientAddresses } from "../auth/proxies.ts";
import {
  checkPublishTopics,
  checkSubscription,
  checkTarget,
  LimitError,
  type Limits,
  StreamCounts,
} from "./limits.ts";
import { BodyTimeout, type TimeoutPhase } from "./timeouts.ts";
import { readFdLimit, streamsAllowedHere } from "../ops/fds.ts";
import type { LabeledCounter } from "../ops/metrics.ts";
import { basicCredentials, type Credentials, unauthorized } from "./request.ts";
import type { CloseReason, Subscriber } from "../core/subscriber.ts";
import { parsePublishPath, parseSubscription, TopicError } from "../core/topics.ts";
import { readReplay, type ReplayFrom, replayFrom } from "./replay.ts";
import { type Transport, transportOf } from "./transport.ts";
import { VERSION } from "../version.ts";
import { VIEWER_HEADERS, VIEWER_HTML } from "./viewer.ts";

/** The content type of a subscription stream, as PyPubSub sends it. */
export const STREAM_TYPE = "application/vnd.pypubsub-stream";

/** The content type of a Server-Sent Events stream. */
export const SSE_TYPE = "text/event-stream";

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
  /** The event; null when it goes through a {@link Bus}, whose readers build it. */
  readonly event: Event | null;
  /**
   * Settles once the event is as durable as `server.backlog.sync` asks; with a bus, once
   * the bus has it (rejecting with a {@link BusError} when it has not).
   */
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
  /** Finds a request's client behind trusted proxies; made anew with the settings. */
  #clients: ClientAddresses;
  readonly #streamCounts = new StreamCounts();
  /** Streams the open-file limit allows (0: unknown), the default of `server.max_streams`. */
  #fdStreams = 0;
  readonly #timedOut: LabeledCounter;
  readonly #limited: LabeledCounter;
  /** One function for every subscriber, rather than a closure each. */
  readonly #onClose = (sub: Subscriber, reason: CloseReason) => {
    this.#streamCounts.closed(sub);
    this.hub.unsubscribe(sub, reason);
  };
  readonly #onTimeout = (phase: TimeoutPhase, address: string) => {
    this.#timedOut.inc([phase]);
    if (phase === "idle") log.debug("idle connection closed", { peer: address });
    else log.info("request timed out", { phase, peer: address });
  };

  readonly history: History;
  /**
   * The cluster bus, when `cluster` is configured: publishes go to it, and it delivers
   * every node's events to the hub and the history in one order. Null: the embedded mode.
   */
  bus: Bus | null = null;

  /**
   * @param history where accepted events are kept for replay (the app opens and closes it).
   */
  constructor(settings: Settings, history: History, metrics = new ServiceMetrics()) {
    this.#settings = settings;
    this.history = history;
    this.metrics = metrics;
    this.hub = new Hub({ keepalive: settings.config.server.keepalive, metrics });
    this.#clients = new ClientAddresses(settings.config.server.proxies);
    metrics.subscribers.read = () => this.hub.size;
    metrics.historyEvents.read = () => history.size;
    this.#registerAuthMetrics();
    const { registry } = metrics;
    this.#timedOut = registry.labeledCounter(
      "denopubsub_timeouts_total",
      "Connections closed, or requests answered 408, for arriving too slowly, by phase (head, body, idle).",
      ["phase"],
    );
    this.#limited = registry.labeledCounter(
      "denopubsub_limits_refused_total",
      "Requests refused for passing a limit, by limit (topic_sets, topics, target, client_streams, streams).",
      ["limit"],
    );
    registry.reading(
      "denopubsub_max_streams",
      "Streams allowed in total (server.max_streams, or what the open-file limit allows); 0 for no limit.",
      () => this.#maxStreams(this.#settings.config.server.limits),
    );
  }

  /** The total stream limit in force; 0 for none. */
  #maxStreams(limits: Limits): number {
    return limits.maxStreams ?? this.#fdStreams;
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
    const listener = (s: Config["server"]) =>
      JSON.stringify([s.port, s.bind, s.tls, s.engine, s.timeouts]);
    if (listener(before) !== listener(after)) {
      log.warn("listener settings changed; they take effect after a restart");
    }
    this.#settings = next;
    this.#clients = new ClientAddresses(after.proxies);
    this.hub.forEach((sub) => {
      if (sub.principal) sub.principal = reevaluate(sub.principal, next);
    });
  }

  /** Starts the HTTP listener, and the HTTPS one when `server.tls` is set. */
  async listen(): Promise<void> {
    const { server } = this.#settings.config;
    this.#fdStreams = streamsAllowedHere(server.limits.maxStreams, await readFdLimit());
    try {
      this.#engine = await listen(server.engine, (call, peer) => this.handle(call, peer), {
        hostname: server.bind,
        port: server.port,
        tls: server.tls,
        timeouts: server.timeouts,
        onTimeout: this.#onTimeout,
        reusePort: this.#settings.config.cluster !== null,
      });
    } catch (err) {
      this.hub.close();
      throw err;
    }
  }

  /** Stops accepting, cuts every stream, and waits for the listeners to finish. */
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
    // Read before routing: on Deno.serve a WebSocket upgrade takes the headers away.
    const origin = this.#settings.config.server.cors ? call.header("origin") : null;
    const client = this.#clients.clientOf(peer.address, call);
    return this.#withCors(await this.#answer(call, peer, client, received), origin);
  }

  async #answer(call: Call, peer: Peer, client: string, received: number): Promise<Reply> {
    try {
      return await this.#route(call, peer, client, received);
    } catch (err) {
      if (!(err instanceof HttpError)) throw err;
      const status = String(err.status);
      this.metrics.refused.inc([status]);
      if (call.method === "PUT" || call.method === "POST") {
        this.metrics.rejected.inc(["http", status]);
      }
      if (err instanceof LimitError) this.#limited.inc([err.limit]);
      if (err instanceof BodyTimeout) this.#timedOut.inc(["body"]);
      log.info("request refused", {
        method: call.method,
        path: call.path,
        peer: client,
        proxy: client === peer.address ? undefined : peer.address,
        status: err.status,
        reason: err.message,
      });
      return this.#respond(err.message + "\n", err.status, err.headers);
    }
  }

  #route(call: Call, peer: Peer, client: string, received: number): Promise<Reply> | Reply {
    checkTarget(call.targetLength, this.#settings.config.server.limits);
    switch (call.method) {
      case "GET":
        return this.#subscribe(call, peer, client);
      case "PUT":
      case "POST":
        return this.#publish(call, client, received);
      case "HEAD":
        return this.#respond(null, 204);
      case "OPTIONS":
        if (this.#settings.config.server.cors) return this.#preflight(call.header("origin"));
        // falls through: without CORS there is nothing to answer a preflight with
      default:
        throw new HttpError(405, `method ${call.method} not allowed`, {
          Allow: "GET, HEAD, PUT, POST",
        });
    }
  }

  /** A CORS preflight: 204 for an allowed origin (its headers are added by `handle`). */
  #preflight(origin: string | null): Reply {
    const cors = this.#settings.config.server.cors!;
    if (corsHeaders(cors, origin) === null) {
      throw new HttpError(403, `origin ${origin ?? "(none)"} is not in server.cors.origins`);
    }
    return this.#respond(null, 204, preflightHeaders());
  }

  /** With `server.cors`, every answer varies by `Origin`; an allowed one may read it. */
  #withCors(reply: Reply, origin: string | null): Reply {
    const cors = this.#settings.config.server.cors;
    if (!cors) return reply;
    const headers = reply.headers;
    headers["Vary"] = headers["Vary"] ? `${headers["Vary"]}, Origin` : "Origin";
    Object.assign(headers, corsHeaders(cors, origin));
    return reply;
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
    const headers = this.#headers(extra);
    if (text !== null) headers["Content-Type"] ??= "text/plain; charset=utf-8";
    return { status, headers, text, stream: null };
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

  /**
   * Answers a `GET` of topics with the transport it asks for (see `transport.ts`).
   * HTTP/1.0 gets PyPubSub's answer, an empty 200: a stream needs chunked encoding.
   */
  async #subscribe(call: Call, peer: Peer, client: string): Promise<Reply> {
    const topicSets = topicsOr400(parseSubscription, call.path);
    const { config } = this.#settings;
    const { limits } = config.server;
    checkSubscription(topicSets, limits);
    const transport = transportOf(call, config.server.viewer);
    if (transport === "viewer") return this.#respond(VIEWER_HTML, 200, { ...VIEWER_HEADERS });
    const principal = await this.#principal(call);
    if (peer.httpVersion === "1.0") return this.#respond(null, 200);
    const from = replayFrom(call);
    const catchingUp = this.#reachCursor(from);
    if (catchingUp) await catchingUp;
    this.#streamCounts.admit(client, this.hub.size, limits, this.#maxStreams(limits));
    const agent = call.header("user-agent") ?? "";
    const oldschool = config.clients.oldschoolers.some((ua) => agent.includes(ua));
    const opts = {
      topicSets,
      framing: transport === "sse"
        ? SSE
        : transport === "websocket"
        ? WEBSOCKET
        : oldschool
        ? OLDSCHOOL
        : NDJSON,
      principal,
      maxQueuedBytes: config.server.maxQueuedBytes,
      onClose: this.#onClose,
    };
    const stream = transport === "websocket"
      ? peer.openSocket(opts, config.server.websocket.ping)
      : peer.openStream(opts);
    if (!stream) throw new HttpError(400, "not a valid WebSocket upgrade request");
    // No await from here on: the replay is read and the subscriber registered in one
    // step, so no event falls between the history and the live stream, and none twice.
    const replay = readReplay(this.history, from);
    const newest = this.history.newest;
    const opening = opts.framing.opening({
      newestCursor: newest || null,
      cursorUnknown: replay.unknown,
      backlogTruncated: replay.truncated,
    });
    if (opening) stream.subscriber.send(opening);
    this.#streamCounts.opened(stream.subscriber, client);
    this.hub.subscribe(stream.subscriber, replay.events);
    const headers = this.#headers(streamHeaders(transport));
    if (newest) headers["X-Newest-Cursor"] = newest;
    if (replay.truncated) headers["X-Backlog-Truncated"] = "true";
    if (replay.unknown) headers["X-Cursor-Unknown"] = "true";
    return { status: transport === "websocket" ? 101 : 200, headers, text: null, stream };
  }

  /**
   * With a bus, waits until this node has delivered the event of the subscriber's cursor,
   * so the replay and the live events that follow meet without a gap or a duplicate;
   * null when there is nothing to wait for.
   */
  #reachCursor(from: ReplayFrom): Promise<void> | null {
    if (!this.bus || from === null || !("cursor" in from)) return null;
    return this.bus.reach(from.cursor).catch((err) => {
      throw err instanceof BusError ? busUnavailable(err) : err;
    });
  }

  /**
   * Builds an event from a validated target and body, keeps it in the history and delivers
   * it: the one path every publish takes, from HTTP or SQS. Counts it and observes the
   * time since `receivedAt`. With a bus, the body is checked and handed to the bus, which
   * delivers it on every node, this one included.
   *
   * @param receivedAt `performance.now()` when the publish arrived.
   * @param body the body as received (UTF-8 bytes), or as text.
   * @returns the event (null with a bus), and a promise that settles once it is as durable
   * as `server.backlog.sync` asks (at once unless sync is on), or once the bus has it.
   * @throws {PayloadError} when `body` is not exactly one JSON object in valid UTF-8.
   */
  publishEvent(
    target: PublishTarget,
    body: string | Uint8Array,
    receivedAt = performance.now(),
  ): Published {
    if (this.bus) return this.#publishToBus(this.bus, target, body, receivedAt);
    const event = buildEvent(target, body);
    const stored = this.history.append(event);
    this.hub.publish(event);
    this.metrics.accepted.inc();
    this.metrics.publishSeconds.observe((performance.now() - receivedAt) / 1000);
    return { event, stored };
  }

  /**
   * Checks the body and hands it to the bus; counted once the bus has it. The bus builds
   * the event and delivers it here as on every node.
   */
  #publishToBus(
    bus: Bus,
    target: PublishTarget,
    body: string | Uint8Array,
    receivedAt: number,
  ): Published {
    const stored = bus.publish(target, checkPayload(body)).then(() => {
      this.metrics.accepted.inc();
      this.metrics.publishSeconds.observe((performance.now() - receivedAt) / 1000);
    });
    return { event: null, stored };
  }

  async #publish(call: Call, client: string, received: number): Promise<Reply> {
    const { config } = this.#settings;
    const target = topicsOr400(parsePublishPath, call.path);
    checkPublishTopics(target.topics, config.server.limits);
    const login = this.#principal(call);
    const principal = login === null ? null : await login;
    this.#checkPublisher(principal, client, target.topics);
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
      if (err instanceof BusError) throw busUnavailable(err);
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
  #checkPublisher(principal: Principal | null, client: string, topics: readonly string[]): void {
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
    if (!this.#mayPublishFrom(client)) {
      throw new HttpError(403, `address ${client} is not allowed to publish`);
    }
  }
}

/** The headers of a stream answer; proxies must neither cache nor buffer it. */
function streamHeaders(transport: Transport): Record<string, string> {
  if (transport === "websocket") return {};
  return {
    "Content-Type": transport === "sse" ? SSE_TYPE : STREAM_TYPE,
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",
  };
}

function busUnavailable(err: BusError): HttpError {
  return new HttpError(503, err.message, { "Retry-After": String(err.retryAfter) });
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
