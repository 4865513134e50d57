/**
 * Gap detection. The append script numbers events 1, 2, 3, … (a counter beside the
 * stream, incremented in the same atomic step as the XADD), so a reader that sees a
 * number jump knows exactly how many events were trimmed from the stream before it could
 * read them, and one that sees the numbers start again knows the stream was lost.
 *
 * @module
 */

/** What an entry's number says about the entries before it. */
export type SequenceCheck =
  /** The first number this reader sees; `before` events were numbered before it. */
  | { readonly kind: "first"; readonly before: number }
  /** The number after the last one. */
  | { readonly kind: "next" }
  /** `missed` events were trimmed before this reader read them. */
  | { readonly kind: "gap"; readonly missed: number }
  /** The numbers started again: the stream and its counter were lost and begun anew. */
  | { readonly kind: "reset" };

/**
 * The last event number a reader has seen.
 *
 * @example
 * ```ts
 * import { Sequence } from "./sequence.ts";
 * const seq = new Sequence();
 * seq.check(7); // { kind: "first", before: 6 }
 * console.assert(seq.check(9).kind === "gap");
 * ```
 */
export class Sequence {
  #last = 0;

  /** The last number seen, 0 before the first. */
  get last(): number {
    return this.#last;
  }

  /** Checks `n` against the last number seen and remembers it. */
  check(n: number): SequenceCheck {
    const last = this.#last;
    this.#last = n;
    if (last === 0) return { kind: "first", before: n - 1 };
    if (n === last + 1) return { kind: "next" };
    return n > last ? { kind: "gap", missed: n - last - 1 } : { kind: "reset" };
  }
}
