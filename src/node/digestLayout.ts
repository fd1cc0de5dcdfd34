import {HASH_SPACE} from '../model/hash.js'
import {type HashRange} from '../model/range.js'

/**
 * FINE_BITS: the node keeps one digest cell per 2^(32-FINE_BITS) hash values ("fine
 * buckets", 65,536 of them over the whole hash space), each the XOR of its records'
 * 64-bit hashes plus a count and a byte total, updated in the same transaction as every
 * write. A shard's digest aggregates the fine buckets inside its range, so any range —
 * including both halves of a split at any point — gets a digest without rewriting data;
 * only the (at most two) fine buckets cut by the range's ends are recomputed by a scan.
 */
export const FINE_BITS = 16

/** FINE_COUNT is the number of fine buckets. */
export const FINE_COUNT = 2 ** FINE_BITS

/** FINE_WIDTH is the number of hash values one fine bucket covers. */
export const FINE_WIDTH = HASH_SPACE / FINE_COUNT

/** DIGEST_BUCKETS is the most buckets a shard digest has (fewer when its range spans fewer fine buckets). */
export const DIGEST_BUCKETS = 256

/** fineOf returns the fine bucket of hash `h`. */
export function fineOf(h: number): number {
  return Math.floor(h / FINE_WIDTH)
}

/** DigestLayout is how a range's digest buckets map onto hash sub-ranges and fine buckets. */
export interface DigestLayout {
  /** bounds has buckets+1 hash values: bucket i covers [bounds[i], bounds[i+1]). */
  bounds: number[]
  /** fineStart[i] is the first fine bucket of digest bucket i; fineStart[buckets] is one past the last. */
  fineStart: number[]
}

/**
 * digestLayout splits `range` into at most `maxBuckets` digest buckets whose inner
 * boundaries fall on fine-bucket boundaries (so each is a union of whole fine buckets,
 * apart from the range's own ends). Deterministic in `range`: two replicas agree.
 */
export function digestLayout(range: HashRange, maxBuckets = DIGEST_BUCKETS): DigestLayout {
  const f0 = fineOf(range.lo)
  const f1 = fineOf(range.hi - 1)
  const n = f1 - f0 + 1
  const buckets = Math.min(maxBuckets, n)
  const bounds: number[] = []
  const fineStart: number[] = []
  for (let b = 0; b <= buckets; b++) {
    const f = f0 + Math.floor((b * n) / buckets)
    fineStart.push(f)
    bounds.push(b === 0 ? range.lo : b === buckets ? range.hi : f * FINE_WIDTH)
  }
  return {bounds, fineStart}
}
