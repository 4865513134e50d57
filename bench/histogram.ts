/**
 * A fixed-size latency histogram: log-linear buckets over microseconds, under 1 % error,
 * so a run of any length records every sample in constant memory.
 *
 * @module
 */

/** Sub-buckets per power of two; 128 keeps the relative error below 0.8 %. */
const SUB_BITS = 7;
const SUB = 1 << SUB_BITS;
/** Values below this many microseconds get one bucket each. */
const LINEAR = SUB * 2;
/** Largest value kept apart from `max`: 2^31 µs, about 36 minutes. */
const TOP_BIT = 31;
const BUCKETS = LINEAR + (TOP_BIT - SUB_BITS) * SUB;

function bucketOf(us: number): number {
  if (us < LINEAR) return us;
  const bit = 31 - Math.clz32(us);
  const shift = bit - SUB_BITS;
  return LINEAR + (shift - 1) * SUB + ((us >>> shift) - SUB);
}

/** The middle of a bucket, in microseconds. */
function valueOf(bucket: number): number {
  if (bucket < LINEAR) return bucket;
  const shift = Math.floor((bucket - LINEAR) / SUB) + 1;
  const mantissa = (bucket - LINEAR) % SUB + SUB;
  return mantissa * 2 ** shift + 2 ** (shift - 1);
}

/**
 * Latencies in milliseconds, recorded with microsecond resolution.
 *
 * @example
 * ```ts
 * import { LatencyHistogram } from "./histogram.ts";
 * const h = new LatencyHistogram();
 * h.record(1.5);
 * h.record(20);
 * console.assert(h.percentile(50) === 1.5 && h.max === 20);
 * ```
 */
export class LatencyHistogram {
  #counts = new Float64Array(BUCKETS);
  /** Samples recorded. */
  count = 0;
  /** Largest sample, exact, in ms. */
  max = 0;

  /** Adds one sample; negative values count as zero, huge ones as the top bucket. */
  record(ms: number): void {
    const us = Math.min(Math.max(Math.round(ms * 1000), 0), 2 ** TOP_BIT - 1);
    this.#counts[bucketOf(us)]! += 1;
    this.count += 1;
    if (ms > this.max) this.max = ms;
  }

  /** The value at percentile `p` (0–100) in ms, or NaN when nothing was recorded. */
  percentile(p: number): number {
    if (this.count === 0) return NaN;
    const rank = Math.max(1, Math.ceil((p / 100) * this.count));
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.#counts[i]!;
      if (seen >= rank) return Math.min(valueOf(i) / 1000, this.max);
    }
    return this.max;
  }
}
