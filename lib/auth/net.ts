/**
 * Client address allow-lists: IPv4 and IPv6 CIDR blocks, with IPv4-mapped IPv6 peers
 * treated as the IPv4 address they carry.
 *
 * @module
 */

/** A parsed CIDR block. Addresses are big integers: 32 bits for IPv4, 128 for IPv6. */
export interface Cidr {
  readonly family: 4 | 6;
  readonly network: bigint;
  readonly prefix: number;
  /** The block as written in the configuration, for messages. */
  readonly text: string;
}

/** A parsed peer address. */
export interface Address {
  readonly family: 4 | 6;
  readonly value: bigint;
}

function parseIPv4(text: string): bigint | null {
  const parts = text.split(".");
  if (parts.length !== 4) return null;
  let value = 0n;
  for (const part of parts) {
    if (!/^\d{1,3}$/.test(part)) return null;
    const n = Number(part);
    if (n > 255) return null;
    value = (value << 8n) | BigInt(n);
  }
  return value;
}

function parseGroups(text: string): number[] | null {
  if (text === "") return [];
  const groups: number[] = [];
  const parts = text.split(":");
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]!;
    if (i === parts.length - 1 && part.includes(".")) {
      const v4 = parseIPv4(part);
      if (v4 === null) return null;
      groups.push(Number(v4 >> 16n), Number(v4 & 0xffffn));
    } else if (/^[0-9a-fA-F]{1,4}$/.test(part)) {
      groups.push(parseInt(part, 16));
    } else {
      return null;
    }
  }
  return groups;
}

function parseIPv6(text: string): bigint | null {
  const zone = text.indexOf("%");
  if (zone >= 0) text = text.slice(0, zone);
  const halves = text.split("::");
  if (halves.length > 2) return null;
  const head = parseGroups(halves[0]!);
  const tail = halves.length === 2 ? parseGroups(halves[1]!) : [];
  if (head === null || tail === null) return null;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return null;
  const groups = [...head, ...Array<number>(missing).fill(0), ...tail];
  return groups.reduce((acc, g) => (acc << 16n) | BigInt(g), 0n);
}

// The top 96 bits of an IPv4-mapped IPv6 address (::ffff:0:0/96).
const MAPPED_PREFIX = 0xffffn;

/**
 * Parses an IPv4 or IPv6 address. An IPv4-mapped IPv6 address (`::ffff:1.2.3.4`) becomes
 * the IPv4 address, so allow-lists written for IPv4 apply to it.
 *
 * @returns the address, or null when `text` is not an IP address.
 */
export function parseAddress(text: string): Address | null {
  if (text.startsWith("[") && text.endsWith("]")) text = text.slice(1, -1);
  const v4 = parseIPv4(text);
  if (v4 !== null) return { family: 4, value: v4 };
  const v6 = parseIPv6(text);
  if (v6 === null) return null;
  if (v6 >> 32n === MAPPED_PREFIX) return { family: 4, value: v6 & 0xffffffffn };
  return { family: 6, value: v6 };
}

/**
 * Parses a CIDR block such as `127.0.0.1/24` or `::1/128`; a bare address is a single-host
 * block. Host bits may be set, as in PyPubSub's configs (`127.0.0.1/24` means 127.0.0.0/24).
 *
 * @throws {Error} with the problem, when `text` is not a CIDR block.
 * @example
 * ```ts
 * import { parseCidr, cidrContains, parseAddress } from "./net.ts";
 * const block = parseCidr("10.0.0.1/24");
 * console.assert(cidrContains(block, parseAddress("10.0.0.200")!));
 * ```
 */
export function parseCidr(text: string): Cidr {
  const [addrText = "", prefixText, ...rest] = text.trim().split("/");
  const v6 = addrText.includes(":");
  const value = v6 ? parseIPv6(addrText.replace(/^\[|\]$/g, "")) : parseIPv4(addrText);
  if (value === null || rest.length > 0) {
    throw new Error(`"${text}" is not an IPv4 or IPv6 address or CIDR block`);
  }
  const bits = v6 ? 128 : 32;
  const prefix = prefixText === undefined ? bits : Number(prefixText);
  if (prefixText !== undefined && !/^\d{1,3}$/.test(prefixText) || prefix > bits) {
    throw new Error(`"${text}" has a bad prefix length (0 to ${bits} for IPv${v6 ? 6 : 4})`);
  }
  // Peers in ::ffff:0:0/96 are matched as IPv4, so such a block becomes an IPv4 block.
  if (v6 && prefix >= 96 && value >> 32n === MAPPED_PREFIX) {
    return block(4, value & 0xffffffffn, prefix - 96, text);
  }
  return block(v6 ? 6 : 4, value, prefix, text);
}

function block(family: 4 | 6, value: bigint, prefix: number, text: string): Cidr {
  const hostBits = BigInt((family === 4 ? 32 : 128) - prefix);
  return { family, network: (value >> hostBits) << hostBits, prefix, text };
}

/** True when `addr` lies inside `block`. */
export function cidrContains(block: Cidr, addr: Address): boolean {
  if (block.family !== addr.family) return false;
  const hostBits = BigInt((block.family === 4 ? 32 : 128) - block.prefix);
  return (addr.value >> hostBits) << hostBits === block.network;
}

/** True when the peer at `host` (an address string) is inside any of `blocks`. */
export function allowed(blocks: readonly Cidr[], host: string): boolean {
  const addr = parseAddress(host);
  return addr !== null && blocks.some((block) => cidrContains(block, addr));
}
