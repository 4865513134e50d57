/**
 * Byte-array helpers shared by the request readers and the history file.
 *
 * @module
 */

/**
 * Joins byte arrays into one new array.
 *
 * @example
 * ```ts
 * import { concat } from "./bytes.ts";
 * console.assert(concat([new Uint8Array([1]), new Uint8Array([2, 3])]).length === 3);
 * ```
 */
export function concat(parts: readonly Uint8Array[]): Uint8Array<ArrayBuffer> {
  let length = 0;
  for (const p of parts) length += p.byteLength;
  const out = new Uint8Array(length);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

const encoder = new TextEncoder();
/** Big enough that one allocation serves hundreds of typical events. */
const SLAB_BYTES = 256 * 1024;
let slab = new Uint8Array(SLAB_BYTES);
let slabAt = 0;

/**
 * A new `length`-byte slice of a shared slab, for the caller to fill. Allocating an
 * `ArrayBuffer` costs about a microsecond each, more than encoding a small event; slices
 * of one slab cost almost nothing. A slab lives as long as any slice of it, so keep this
 * for bytes that are short-lived or kept together (event lines, which the history drops
 * oldest first).
 *
 * @example
 * ```ts
 * import { allocShared } from "./bytes.ts";
 * const a = allocShared(3), b = allocShared(5);
 * console.assert(a.length === 3 && a.buffer === b.buffer);
 * ```
 */
export function allocShared(length: number): Uint8Array {
  if (length > SLAB_BYTES / 4) return new Uint8Array(length);
  if (slabAt + length > SLAB_BYTES) {
    slab = new Uint8Array(SLAB_BYTES);
    slabAt = 0;
  }
  const bytes = slab.subarray(slabAt, slabAt + length);
  slabAt += length;
  return bytes;
}

/**
 * UTF-8 encodes `text` into a slice of a shared slab (see {@link allocShared}).
 *
 * @example
 * ```ts
 * import { encodeShared } from "./bytes.ts";
 * const a = encodeShared("é\n"), b = encodeShared("x");
 * console.assert(a.length === 3 && a.buffer === b.buffer);
 * ```
 */
export function encodeShared(text: string): Uint8Array {
  // UTF-16 code units become at most 3 bytes each.
  const room = text.length * 3;
  if (room > SLAB_BYTES / 4) return encoder.encode(text);
  if (slabAt + room > SLAB_BYTES) {
    slab = new Uint8Array(SLAB_BYTES);
    slabAt = 0;
  }
  const { written } = encoder.encodeInto(text, slab.subarray(slabAt));
  const bytes = slab.subarray(slabAt, slabAt + written);
  slabAt += written;
  return bytes;
}

/**
 * Writes the characters of `ascii` (each below U+0080) into `into` from `at`, without an
 * encoder call; returns the index after the last byte written.
 */
export function writeAscii(into: Uint8Array, at: number, ascii: string): number {
  for (let i = 0; i < ascii.length; i++) into[at++] = ascii.charCodeAt(i);
  return at;
}
