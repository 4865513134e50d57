/**
 * The real client address behind a reverse proxy. A request whose peer is in
 * `server.trusted_proxies` comes from the right-most address of `X-Forwarded-For` (or
 * the `for=` of `Forwarded`, with `server.proxy_header: forwarded`) that is not itself
 * trusted: each trusted proxy appends the address it saw, so only entries left of the
 * untrusted one can be forged. From any other peer the headers are ignored, and the client
 * is the peer.
 *
 * @module
 */

import { type Address, allowed, type Cidr, cidrContains, parseAddress, parseCidr } from "./net.ts";
import type { Section } from "../section.ts";

/** The header a trusted proxy reports the client in. */
export type ProxyHeader = "x-forwarded-for" | "forwarded";

/** `server.trusted_proxies` and `server.proxy_header`. */
export interface ProxyConfig {
  readonly trusted: readonly Cidr[];
  readonly header: ProxyHeader;
}

/** Where {@link ClientAddresses.clientOf} reads a request's headers. */
export interface HeaderSource {
  /** A header by lower-case name, or null when the request has none. */
  header(name: string): string | null;
}

/** What a request's client is called when a trusted proxy names it in a form that is no address. */
export const UNKNOWN_CLIENT = "unknown";

const HEADERS: readonly ProxyHeader[] = ["x-forwarded-for", "forwarded"];

/**
 * Reads `server.trusted_proxies` (CIDR blocks) and `server.proxy_header`.
 *
 * @throws {ConfigError} naming the key when a block or the header name is invalid.
 */
export function parseProxies(server: Section): ProxyConfig {
  const trusted = server.strings("trusted_proxies").map((text, i) => {
    try {
      return parseCidr(text);
    } catch (err) {
      server.fail(`trusted_proxies[${i}]`, (err as Error).message);
    }
  });
  const header = server.string("proxy_header", HEADERS[0]!).toLowerCase() as ProxyHeader;
  if (!HEADERS.includes(header)) {
    server.fail("proxy_header", `must be one of ${HEADERS.join(", ")}, got "${header}"`);
  }
  return { trusted, header };
}

/**
 * Finds each request's client address under one {@link ProxyConfig}; made anew when the
 * settings change.
 *
 * @example
 * ```ts
 * import { ClientAddresses } from "./proxies.ts";
 * import { parseCidr } from "./net.ts";
 * const clients = new ClientAddresses({
 *   trusted: [parseCidr("127.0.0.1/32")],
 *   header: "x-forwarded-for",
 * });
 * const xff = (value: string) => ({ header: (name: string) => name === "x-forwarded-for" ? value : null });
 * console.assert(clients.clientOf("127.0.0.1", xff("198.51.100.7, 203.0.113.9")) === "203.0.113.9");
 * console.assert(clients.clientOf("192.0.2.1", xff("203.0.113.9")) === "192.0.2.1");
 * ```
 */
export class ClientAddresses {
  readonly #config: ProxyConfig;
  /** Whether a peer is trusted, remembered: the CIDR check is big-integer work. */
  readonly #trustedPeers = new Map<string, boolean>();

  constructor(config: ProxyConfig) {
    this.#config = config;
  }

  /** True when some proxy is trusted, so that headers may name the client. */
  get active(): boolean {
    return this.#config.trusted.length > 0;
  }

  /**
   * The client of a request from `peer`.
   *
   * @param request reads the request's headers by lower-case name.
   */
  clientOf(peer: string, request: HeaderSource): string {
    if (!this.active || !this.#trustedPeer(peer)) return peer;
    const value = request.header(this.#config.header);
    if (value === null) return peer;
    const hops = this.#config.header === "forwarded" ? forwardedFor(value) : value.split(",");
    let client = peer;
    for (let i = hops.length - 1; i >= 0; i--) {
      const addr = parseHop(hops[i]!);
      if (addr === null) return UNKNOWN_CLIENT;
      client = formatAddress(addr);
      if (!this.#config.trusted.some((block) => cidrContains(block, addr))) return client;
    }
    // Every hop is trusted: the first one is as far back as the chain goes.
    return client;
  }

  #trustedPeer(peer: string): boolean {
    let trusted = this.#trustedPeers.get(peer);
    if (trusted === undefined) {
      if (this.#trustedPeers.size >= 1024) this.#trustedPeers.clear();
      trusted = allowed(this.#config.trusted, peer);
      this.#trustedPeers.set(peer, trusted);
    }
    return trusted;
  }
}

/** The `for=` values of a `Forwarded` header, one per element; "" when an element has none. */
export function forwardedFor(value: string): string[] {
  return value.split(",").map((element) => {
    for (const pair of element.split(";")) {
      const eq = pair.indexOf("=");
      if (eq >= 0 && pair.slice(0, eq).trim().toLowerCase() === "for") {
        return pair.slice(eq + 1).trim().replace(/^"(.*)"$/, "$1");
      }
    }
    return "";
  });
}

/**
 * One hop of a forwarding header as an address: `192.0.2.1`, `192.0.2.1:4711`, `2001:db8::1`
 * or `[2001:db8::1]:4711`; null when it is none (`unknown`, an obfuscated name, garbage).
 */
export function parseHop(hop: string): Address | null {
  let text = hop.trim();
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(text);
  if (bracketed) text = bracketed[1]!;
  else if (/^[\d.]+:\d+$/.test(text)) text = text.slice(0, text.indexOf(":"));
  return parseAddress(text);
}

/**
 * An address in its usual text form: dotted IPv4 (also for IPv4-mapped IPv6), IPv6 in
 * lower case with the longest run of zero groups shortened to `::` (RFC 5952).
 */
export function formatAddress(addr: Address): string {
  if (addr.family === 4) {
    return [24n, 16n, 8n, 0n].map((shift) => String((addr.value >> shift) & 0xffn)).join(".");
  }
  const groups = Array.from(
    { length: 8 },
    (_, i) => (addr.value >> BigInt(112 - 16 * i)) & 0xffffn,
  );
  let bestAt = -1;
  let bestLength = 1;
  for (let i = 0; i < 8;) {
    let j = i;
    while (j < 8 && groups[j] === 0n) j++;
    if (j - i > bestLength) [bestAt, bestLength] = [i, j - i];
    i = j > i ? j : i + 1;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestAt < 0) return hex.join(":");
  const head = hex.slice(0, bestAt).join(":");
  const tail = hex.slice(bestAt + bestLength).join(":");
  return `${head}::${tail}`;
}
