/**
 * Redis stream entry ids (`<ms>-<seq>`) and cursors. An event's `pubsub_cursor` is its
 * entry id written as a UUIDv7: the 48-bit time field holds the id's milliseconds and the
 * 74 bits that are random in an ordinary UUIDv7 (12 of `rand_a`, 62 of `rand_b`) hold its
 * sequence number, most significant bits first. Cursors therefore sort in stream order
 * on every node, whatever the nodes' clocks say, and each maps back to its entry id.
 *
 * @module
 */

const MAX_MS = 2 ** 48 - 1;
const B_BITS = 62n;
const B_MASK = (1n << B_BITS) - 1n;
const LOW_48 = (1n << 48n) - 1n;
const MAX_SEQ = (1n << 64n) - 1n;
const ENTRY_ID_RE = /^(\d{1,15})-(\d{1,20})$/;

/** An entry id taken apart. */
export interface EntryId {
  /** Milliseconds since the epoch, on the Redis server's clock. */
  readonly ms: number;
  readonly seq: bigint;
}

/** The parts of an entry id, or null when `id` is not one this scheme can hold. */
export function parseEntryId(id: string): EntryId | null {
  const m = ENTRY_ID_RE.exec(id);
  if (!m) return null;
  const ms = Number(m[1]);
  const seq = BigInt(m[2]!);
  return ms <= MAX_MS && seq <= MAX_SEQ ? { ms, seq } : null;
}

/**
 * The cursor of a stream entry.
 *
 * @throws {RangeError} when `id` is not an entry id with a time before the year 10889.
 * @example
 * ```ts
 * import { cursorOfEntry } from "./entry_id.ts";
 * console.assert(cursorOfEntry("1-2") === "00000000-0001-7000-8000-000000000002");
 * ```
 */
export function cursorOfEntry(id: string): string {
  const parsed = parseEntryId(id);
  if (!parsed) throw new RangeError(`not a stream entry id: "${id}"`);
  const t = parsed.ms.toString(16).padStart(12, "0");
  const a = parsed.seq >> B_BITS;
  const b = parsed.seq & B_MASK;
  const group4 = (0x8000 | Number(b >> 48n)).toString(16);
  const group5 = (b & LOW_48).toString(16).padStart(12, "0");
  return `${t.slice(0, 8)}-${t.slice(8)}-7${a.toString(16).padStart(3, "0")}-${group4}-${group5}`;
}

/**
 * The entry id a cursor stands for. Any UUIDv7 maps to some id; one made by
 * {@link cursorOfEntry} maps back to the id it was made from.
 *
 * @example
 * ```ts
 * import { cursorOfEntry, entryOfCursor } from "./entry_id.ts";
 * console.assert(entryOfCursor(cursorOfEntry("1796161095627-3")) === "1796161095627-3");
 * ```
 */
export function entryOfCursor(cursor: string): string {
  const ms = parseInt(cursor.slice(0, 8) + cursor.slice(9, 13), 16);
  const a = BigInt(parseInt(cursor.slice(15, 18), 16));
  const high = BigInt(parseInt(cursor.slice(19, 23), 16) & 0x3fff);
  const low = BigInt(parseInt(cursor.slice(24, 36), 16));
  return `${ms}-${(a << B_BITS) | (high << 48n) | low}`;
}

/** The milliseconds of an entry id (its time on the Redis server). */
export function entryMs(id: string): number {
  return Number(id.slice(0, id.indexOf("-")));
}

/**
 * The greatest entry id below `id`: a cursor of it sorts after every entry before `id`.
 *
 * @example
 * ```ts
 * import { previousEntryId } from "./entry_id.ts";
 * console.assert(previousEntryId("5-0") === "4-18446744073709551615");
 * ```
 */
export function previousEntryId(id: string): string {
  const parsed = parseEntryId(id);
  if (!parsed) throw new RangeError(`not a stream entry id: "${id}"`);
  if (parsed.seq > 0n) return `${parsed.ms}-${parsed.seq - 1n}`;
  return parsed.ms > 0 ? `${parsed.ms - 1}-${MAX_SEQ}` : "0-0";
}
