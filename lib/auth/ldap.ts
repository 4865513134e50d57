/**
 * LDAP authentication for private events, as PyPubSub does it and made safe: bind as the
 * user, search each membership pattern under the base scope, and grant the segments that
 * `clients.ldap.acl` gives to every DN found (the user's own DN included).
 *
 * - The user name is escaped for the bind DN (RFC 4514) and for filters (RFC 4515); an
 *   empty password is refused before any bind (it would be an unauthenticated bind).
 * - One deadline (`timeout`) bounds the whole lookup: connect, TLS, bind and searches.
 *   When LDAP is down or slow the answer is `unavailable` (the server answers 503).
 * - Results are cached by user and a keyed hash of the password: successes for
 *   `cache_ttl`, wrong passwords for `failure_ttl`; `unavailable` never. Concurrent
 *   lookups of the same credentials share one bind.
 *
 * @module
 */

import { Client, ResultCodeError } from "ldapts";
import { createHmac, randomBytes } from "node:crypto";
import net from "node:net";
import tls from "node:tls";
import type { LdapAclEntry, LdapConfig, Segments } from "./ldap_config.ts";
import { fillDnPattern, fillFilterPattern, normalizeDn } from "./ldap_escape.ts";
import { errorMessage, log } from "../log.ts";
import { TtlCache } from "./ttl_cache.ts";

export { LDAP_DEFAULTS, parseLdapConfig } from "./ldap_config.ts";
export type { LdapAclEntry, LdapConfig, Segments } from "./ldap_config.ts";

/** The answer to {@link LdapAuthenticator.authenticate}. */
export type LdapAuthResult =
  | {
    readonly status: "ok";
    /** The bind DN of the user. */
    readonly dn: string;
    /** The bind DN and every DN the membership searches found (for re-granting on reload). */
    readonly dns: readonly string[];
    /** Granted segments by name; empty when the user is in no configured group. */
    readonly segments: Segments;
    readonly cached: boolean;
  }
  | { readonly status: "denied"; readonly reason: string; readonly cached: boolean }
  | { readonly status: "unavailable"; readonly reason: string };

/** Counters for metrics. */
export interface LdapStats {
  /** Bind requests sent to the LDAP server. */
  readonly binds: number;
  /** Answers served without a bind: from the cache, or by joining a lookup under way. */
  readonly cacheHits: number;
  /** Lookups that went to the LDAP server. */
  readonly cacheMisses: number;
  /** Lookups that ended `unavailable`. */
  readonly unavailable: number;
}

type Outcome = Exclude<LdapAuthResult, { status: "unavailable" }>;

const MAX_CACHE_ENTRIES = 10_000;
const MAX_USER_LENGTH = 256;
/** Bind result codes that mean "these credentials are no good" rather than an outage. */
const DENIED_CODES = new Set([32, 34, 48, 49, 50, 53]);
const INVALID = "invalid credentials";

/**
 * Authenticates users against LDAP and maps their groups to ACL segments.
 *
 * @example
 * ```ts ignore
 * import { LdapAuthenticator, parseLdapConfig } from "./ldap.ts";
 * const ldap = new LdapAuthenticator(parseLdapConfig(yaml.clients.ldap, "pubsub.yaml"));
 * const result = await ldap.authenticate("alice", "secret");
 * if (result.status === "ok") subscriber.segments = result.segments;
 * else if (result.status === "denied") status = 401;
 * else status = 503;
 * await ldap.close();
 * ```
 */
export class LdapAuthenticator {
  readonly #config: LdapConfig;
  readonly #secret = randomBytes(32);
  readonly #cache: TtlCache<Outcome>;
  readonly #inflight = new Map<string, Promise<LdapAuthResult>>();
  readonly #sockets = new Set<net.Socket>();
  #generation = 0;
  #closed = false;
  #binds = 0;
  #cacheHits = 0;
  #cacheMisses = 0;
  #unavailable = 0;

  /**
   * @param config settings from {@link parseLdapConfig}
   * @param clock milliseconds for the lifetimes of cached lookups; replaceable in tests.
   */
  constructor(config: LdapConfig, clock: () => number = Date.now) {
    this.#config = config;
    this.#cache = new TtlCache<Outcome>(MAX_CACHE_ENTRIES, clock);
    warnIfCleartext(config);
  }

  /** The settings in force. */
  get config(): LdapConfig {
    return this.#config;
  }

  /**
   * Checks `user` and `password` and returns the segments granted, `denied` for bad
   * credentials, or `unavailable` when LDAP cannot be asked in time (already logged).
   * Never throws.
   */
  authenticate(user: string, password: string): Promise<LdapAuthResult> {
    if (password === "") return Promise.resolve(denied("empty password", false));
    if (user === "" || user.length > MAX_USER_LENGTH) {
      return Promise.resolve(denied(INVALID, false));
    }
    if (this.#closed) return Promise.resolve(unavailable("LDAP authenticator is closed"));
    const key = this.#key(user, password);
    const hit = this.#cache.get(key);
    const pending = this.#inflight.get(key);
    if (hit || pending) {
      this.#cacheHits++;
      return hit ? Promise.resolve({ ...hit, cached: true }) : pending as Promise<LdapAuthResult>;
    }
    this.#cacheMisses++;
    const lookup = this.#lookupAndRemember(key, user, password);
    this.#inflight.set(key, lookup);
    return lookup;
  }

  /**
   * The segments the configured `acl` grants to these DNs (a login's `dns`): how an open
   * stream's segments are worked out again when the mapping changes, without a new bind.
   */
  segmentsFor(dns: readonly string[]): Segments {
    return grant(this.#config.acl, dns);
  }

  /** Forgets every cached answer (on reload, group membership may have changed). */
  clearCache(): void {
    this.#generation++;
    this.#cache.clear();
    this.#inflight.clear();
  }

  /** A snapshot of the counters. */
  stats(): LdapStats {
    return {
      binds: this.#binds,
      cacheHits: this.#cacheHits,
      cacheMisses: this.#cacheMisses,
      unavailable: this.#unavailable,
    };
  }

  /** Ends lookups under way (they answer `unavailable`) and refuses new ones. */
  async close(): Promise<void> {
    this.#closed = true;
    const pending = [...this.#inflight.values()];
    this.clearCache();
    for (const socket of this.#sockets) socket.destroy();
    await Promise.allSettled(pending);
  }

  #key(user: string, password: string): string {
    return createHmac("sha256", this.#secret).update(JSON.stringify([user, password])).digest(
      "base64",
    );
  }

  async #lookupAndRemember(key: string, user: string, password: string): Promise<LdapAuthResult> {
    const generation = this.#generation;
    const started = performance.now();
    try {
      const result = await this.#lookup(user, password);
      const ms = Math.round(performance.now() - started);
      if (result.status === "unavailable") {
        this.#unavailable++;
        log.warn("LDAP unavailable", { user, ms, error: result.reason });
        return result;
      }
      if (generation === this.#generation) {
        const ttl = result.status === "ok" ? this.#config.cacheTtlMs : this.#config.failureTtlMs;
        this.#cache.set(key, result, ttl);
      }
      if (result.status === "ok") {
        log.debug("LDAP login", { user, ms, segments: Object.keys(result.segments).join(",") });
      } else {
        log.info("LDAP login refused", { user, ms, reason: result.reason });
      }
      return result;
    } finally {
      if (generation === this.#generation) this.#inflight.delete(key);
    }
  }

  /**
   * Tries each URI in turn within one deadline, each getting an equal share of what is
   * left, so one hung server does not use up the time of the next; a bad password ends
   * the search at once.
   */
  async #lookup(user: string, password: string): Promise<LdapAuthResult> {
    const uris = this.#config.uris;
    const deadline = performance.now() + this.#config.timeoutMs;
    let reason = "no LDAP server could be reached";
    for (const [i, uri] of uris.entries()) {
      const budget = Math.floor((deadline - performance.now()) / (uris.length - i));
      if (budget <= 0) break;
      try {
        return await this.#attempt(uri, user, password, budget);
      } catch (err) {
        reason = `${uri}: ${errorMessage(err)}`;
        if (i < uris.length - 1) log.warn("LDAP server failed, trying the next", { error: reason });
      }
    }
    return unavailable(reason);
  }

  /** One conversation with one server, cut off after `budget` ms; throws on an outage. */
  async #attempt(uri: string, user: string, password: string, budget: number): Promise<Outcome> {
    const sockets = new Set<net.Socket>();
    let aborted = false;
    const track = <S extends net.Socket>(socket: S): S => {
      if (aborted || this.#closed) socket.destroy();
      sockets.add(socket);
      this.#sockets.add(socket);
      socket.once("close", () => {
        sockets.delete(socket);
        this.#sockets.delete(socket);
      });
      return socket;
    };
    const client = new Client({
      url: uri,
      timeout: budget,
      connectTimeout: budget,
      tlsOptions: uri.startsWith("ldaps:") ? this.#tlsOptions(uri) : undefined,
      createConnection: ((...args: unknown[]) =>
        track((net.connect as (...a: unknown[]) => net.Socket)(...args))) as typeof net.connect,
      createSecureConnection: ((...args: unknown[]) =>
        track((tls.connect as (...a: unknown[]) => tls.TLSSocket)(...args))) as typeof tls.connect,
    });
    let timer: ReturnType<typeof setTimeout> | undefined;
    const expiry = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${budget} ms`)), budget);
    });
    try {
      return await Promise.race([this.#converse(client, uri, user, password), expiry]);
    } finally {
      aborted = true;
      clearTimeout(timer);
      for (const socket of sockets) socket.destroy();
    }
  }

  async #converse(client: Client, uri: string, user: string, password: string): Promise<Outcome> {
    const config = this.#config;
    if (config.starttls) await client.startTLS(this.#tlsOptions(uri));
    const dn = fillDnPattern(config.userDn, user);
    try {
      this.#binds++;
      await client.bind(dn, password);
    } catch (err) {
      if (err instanceof ResultCodeError && DENIED_CODES.has(err.code)) {
        return denied(INVALID, false);
      }
      throw err;
    }
    const found = [dn];
    for (const pattern of config.membershipPatterns) {
      const { searchEntries } = await client.search(config.baseScope, {
        scope: "sub",
        filter: fillFilterPattern(pattern, user),
        attributes: ["1.1"],
      });
      for (const entry of searchEntries) found.push(entry.dn);
    }
    await client.unbind();
    const dns = Object.freeze(found);
    return { status: "ok", dn, dns, segments: grant(config.acl, dns), cached: false };
  }

  /** TLS settings for ldaps:// and StartTLS: the configured CA, and the host to verify. */
  #tlsOptions(uri: string): tls.ConnectionOptions {
    const host = new URL(uri).hostname.replace(/^\[(.*)\]$/, "$1");
    return {
      host,
      ...(net.isIP(host) ? {} : { servername: host }),
      ...(this.#config.ca ? { ca: [this.#config.ca] } : {}),
    };
  }
}

function denied(reason: string, cached: boolean): Outcome {
  return { status: "denied", reason, cached };
}

function unavailable(reason: string): LdapAuthResult {
  return { status: "unavailable", reason };
}

/**
 * The segments of every ACL entry whose DN was found. Two entries granting the same
 * segment name with different topics both count: the later one is kept as `name@dn`.
 */
function grant(acl: readonly LdapAclEntry[], dns: readonly string[]): Segments {
  const found = new Set(dns.map(normalizeDn));
  const segments: Record<string, readonly string[]> = {};
  for (const entry of acl) {
    if (!found.has(entry.key)) continue;
    for (const [name, topics] of Object.entries(entry.segments)) {
      const held = segments[name];
      const same = held !== undefined && held.join("/") === topics.join("/");
      segments[held === undefined || same ? name : `${name}@${entry.dn}`] = topics;
    }
  }
  return Object.freeze(segments);
}

function warnIfCleartext(config: LdapConfig): void {
  if (config.starttls) return;
  for (const uri of config.uris) {
    const host = new URL(uri).hostname;
    const loopback = host === "localhost" || host.startsWith("127.") || host === "[::1]";
    if (uri.startsWith("ldap:") && !loopback) {
      log.warn("LDAP passwords are sent unencrypted; use ldaps:// or starttls: true", { uri });
    }
  }
}
