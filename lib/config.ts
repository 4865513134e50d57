/**
 * `pubsub.yaml`: read, validate and freeze the server configuration. PyPubSub's keys keep
 * their meaning, so a PyPubSub config file loads unchanged; new settings use new keys.
 *
 * @module
 */

import { type LdapConfig, parseLdapConfig } from "./auth/ldap_config.ts";
import { type ClusterConfig, parseCluster } from "./cluster/config.ts";
import { type Cidr, parseCidr } from "./auth/net.ts";
import { type CorsConfig, parseCors } from "./http/cors.ts";
import { parseProxies, type ProxyConfig } from "./auth/proxies.ts";
import { type Limits, parseLimits } from "./http/limits.ts";
import { parseTimeouts, type Timeouts } from "./http/timeouts.ts";
import { parseWebSocket, type WebSocketConfig } from "./http/websocket.ts";
import { errorMessage, log } from "./log.ts";
import { ConfigError, readYaml, Section } from "./section.ts";
import { parseSqs, type SqsQueueConfig } from "./sqs/config.ts";

/** TLS listener settings (`server.tls`). */
export interface TlsConfig {
  readonly port: number;
  /** PEM text of the certificate, followed by the chain when one is configured. */
  readonly cert: string;
  readonly key: string;
}

/** The HTTP engine (`server.engine`): `Deno.serve`, or `node:http` inside Deno. */
export type EngineName = "deno" | "node";

/** History settings (`server.backlog`). */
export interface BacklogConfig {
  /** Events kept; 0 disables history. */
  readonly size: number;
  /** Seconds an event is kept; 0 keeps it until `size` pushes it out. */
  readonly maxAge: number;
  /** File that keeps history across restarts, or null for memory only. */
  readonly storage: string | null;
  /** Answer 202 only after the event is written to storage. */
  readonly sync: boolean;
}

/** The admin listener (`admin`): metrics and health checks, apart from the topic paths. */
export interface AdminConfig {
  readonly bind: string;
  /** Null: no admin listener. 0 picks a free port. */
  readonly port: number | null;
}

/** The validated configuration; frozen, so it is swapped whole on reload. */
export interface Config {
  /** The file it was read from. */
  readonly file: string;
  readonly server: {
    readonly port: number;
    readonly bind: string;
    readonly maxPayloadSize: number;
    /** Seconds between `{"stillalive": …}` lines. */
    readonly keepalive: number;
    /** Unsent bytes a subscriber may have queued before it is disconnected. */
    readonly maxQueuedBytes: number;
    readonly engine: EngineName;
    readonly tls: TlsConfig | null;
    readonly backlog: BacklogConfig;
    /** Serve the live viewer page to browsers that navigate to a topic URL. */
    readonly viewer: boolean;
    /** Origins whose pages may read the service (`server.cors`), or null: CORS off. */
    readonly cors: CorsConfig | null;
    /** `server.timeouts`: head, body, idle. */
    readonly timeouts: Timeouts;
    /** `server.max_topic_sets`, `max_topics`, `max_target_bytes`, `max_streams(_per_client)`. */
    readonly limits: Limits;
    /** `server.trusted_proxies` and `server.proxy_header`. */
    readonly proxies: ProxyConfig;
    /** How silent WebSocket peers are found and cut (`server.websocket`). */
    readonly websocket: WebSocketConfig;
  };
  readonly clients: {
    readonly payloaders: readonly Cidr[];
    readonly oldschoolers: readonly string[];
    readonly secureTopics: ReadonlySet<string>;
    /** LDAP authentication (`clients.ldap`), or null when not configured. */
    readonly ldap: LdapConfig | null;
  };
  readonly admin: AdminConfig;
  /** Queues to read events from; empty when there is no `sqs` section. */
  readonly sqs: readonly SqsQueueConfig[];
  /** The Redis stream shared with other nodes, or null to run alone. */
  readonly cluster: ClusterConfig | null;
}

/** Defaults shared with PyPubSub where it has the setting. */
export const DEFAULTS = {
  port: 2069,
  bind: "0.0.0.0",
  maxPayloadSize: 102400,
  keepalive: 5,
  maxQueuedBytes: 4 * 1024 * 1024,
  adminBind: "127.0.0.1",
} as const;

/** Every key the server knows, for the unknown-key warning. `*` allows any name. */
const KNOWN = {
  server: {
    port: 1,
    bind: 1,
    max_payload_size: 1,
    keepalive: 1,
    max_queued_bytes: 1,
    engine: 1,
    timeouts: { head: 1, body: 1, idle: 1 },
    max_topic_sets: 1,
    max_topics: 1,
    max_target_bytes: 1,
    max_streams_per_client: 1,
    max_streams: 1,
    trusted_proxies: 1,
    proxy_header: 1,
    backlog: { size: 1, max_age: 1, storage: 1, sync: 1 },
    tls: { port: 1, cert: 1, key: 1, chain: 1 },
    viewer: 1,
    cors: { origins: 1 },
    websocket: { ping: 1 },
  },
  clients: { payloaders: 1, oldschoolers: 1, secure_topics: 1, ldap: "*" },
  admin: { bind: 1, port: 1 },
  sqs: "*",
  cluster: { redis: 1, stream: 1 },
} as const;

function readPem(section: Section, key: string): string {
  const path = section.string(key, "");
  if (!path) section.fail(key, "is required when server.tls is set");
  try {
    return Deno.readTextFileSync(path);
  } catch (err) {
    section.fail(key, `cannot read "${path}": ${(err as Error).message}`);
  }
}

function parseTls(server: Section): TlsConfig | null {
  if (!server.has("tls")) return null;
  const tls = server.section("tls");
  const port = tls.int("port", 0, 0, 65535);
  if (!tls.has("port")) tls.fail("port", "is required when server.tls is set");
  const chain = tls.has("chain") ? "\n" + readPem(tls, "chain") : "";
  return { port, cert: readPem(tls, "cert") + chain, key: readPem(tls, "key") };
}

function parseBacklog(server: Section): BacklogConfig {
  const backlog = server.section("backlog");
  const storage = backlog.string("storage", "");
  return {
    size: backlog.int("size", 0, 0, 100_000_000),
    maxAge: backlog.duration("max_age", 0),
    storage: storage || null,
    sync: backlog.bool("sync", false),
  };
}

function parsePayloaders(clients: Section): Cidr[] {
  return clients.strings("payloaders").map((text, i) => {
    try {
      return parseCidr(text);
    } catch (err) {
      clients.fail(`payloaders[${i}]`, (err as Error).message);
    }
  });
}

function parseAdmin(root: Section): AdminConfig {
  const admin = root.section("admin");
  const port = admin.has("port") ? admin.int("port", 0, 0, 65535) : null;
  return { bind: admin.string("bind", DEFAULTS.adminBind), port };
}

function parseLdap(clients: Section, file: string): LdapConfig | null {
  if (!clients.has("ldap")) return null;
  try {
    return parseLdapConfig(clients.raw["ldap"], file);
  } catch (err) {
    throw new ConfigError(errorMessage(err));
  }
}

function warnUnknown(file: string, raw: unknown, known: unknown, prefix: string): void {
  if (known === "*" || !raw || typeof raw !== "object" || Array.isArray(raw)) return;
  for (const [key, value] of Object.entries(raw)) {
    const name = prefix ? `${prefix}.${key}` : key;
    const spec = (known as Record<string, unknown>)[key];
    if (spec === undefined) log.warn("unknown configuration key ignored", { file, key: name });
    else if (typeof spec === "object" || spec === "*") warnUnknown(file, value, spec, name);
  }
}

/**
 * Validates a parsed YAML document into a frozen {@link Config}. Nothing downstream
 * re-checks it. Unknown keys are logged as warnings.
 *
 * @param raw the parsed YAML document.
 * @param file the file name used in messages.
 * @throws {ConfigError} naming the file, the key and the problem.
 */
export function parseConfig(raw: unknown, file: string): Config {
  const root = Section.of(file, "", raw);
  if (!root.has("server")) root.fail("server", "is missing (a server section is required)");
  const server = root.section("server");
  const clients = root.section("clients");
  warnUnknown(file, raw, KNOWN, "");
  return deepFreeze({
    file,
    server: {
      port: server.int("port", DEFAULTS.port, 0, 65535),
      bind: server.string("bind", DEFAULTS.bind),
      maxPayloadSize: server.int("max_payload_size", DEFAULTS.maxPayloadSize, 2, 2 ** 30),
      keepalive: server.duration("keepalive", DEFAULTS.keepalive) || DEFAULTS.keepalive,
      maxQueuedBytes: server.int("max_queued_bytes", DEFAULTS.maxQueuedBytes, 1024, 2 ** 40),
      engine: server.choice<EngineName>("engine", ["deno", "node"]),
      tls: parseTls(server),
      backlog: parseBacklog(server),
      viewer: server.bool("viewer", true),
      cors: parseCors(server),
      timeouts: parseTimeouts(server),
      limits: parseLimits(server),
      proxies: parseProxies(server),
      websocket: parseWebSocket(server),
    },
    clients: {
      payloaders: parsePayloaders(clients),
      oldschoolers: clients.strings("oldschoolers"),
      secureTopics: new Set(clients.strings("secure_topics")),
      ldap: parseLdap(clients, file),
    },
    admin: parseAdmin(root),
    sqs: parseSqs(root.section("sqs")),
    cluster: parseCluster(root),
  });
}

/**
 * Reads and validates a config file.
 *
 * @throws {ConfigError} naming the file, the key and the problem (or that it is missing).
 */
export async function loadConfig(file: string): Promise<Config> {
  return parseConfig(await readYaml(file), file);
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === "object" && !(value instanceof Set) && !Object.isFrozen(value)) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
