import {HASH_SPACE} from './hash.js'

/** HashRange is the half-open interval [lo, hi) of the hash space a shard owns. */
export interface HashRange {
  lo: number
  hi: number
}

/**
 * evenRanges cuts the whole hash space into `n` contiguous ranges of near-equal size,
 * in order, covering [0, HASH_SPACE) exactly. Throws RangeError unless 1 <= n <= 2^20.
 */
export function evenRanges(n: number): HashRange[] {
  if (!Number.isInteger(n) || n < 1 || n > 2 ** 20) throw new RangeError(`shard count must be an integer in 1..${2 ** 20}, got ${n}`)
  const out: HashRange[] = []
  for (let i = 0; i < n; i++) {
    out.push({lo: Math.floor((i * HASH_SPACE) / n), hi: Math.floor(((i + 1) * HASH_SPACE) / n)})
  }
  return out
}

/** rangeContains tells whether hash `h` lies in `r`. */
export function rangeContains(r: HashRange, h: number): boolean {
  return h >= r.lo && h < r.hi
}

/** rangesOverlap tells whether half-open ranges `a` and `b` share a hash. */
export function rangesOverlap(a: HashRange, b: HashRange): boolean {
  return a.lo < b.hi && b.lo < a.hi
}

/** rangeSize is the number of hash values in `r`. */
export function rangeSize(r: HashRange): number {
  return r.hi - r.lo
}

/** rangeMidpoint is the split point that halves `r`; undefined when `r` has fewer than 2 values. */
export function rangeMidpoint(r: HashRange): number | undefined {
  if (rangeSize(r) < 2) return undefined
  return r.lo + Math.floor(rangeSize(r) / 2)
}

/**
 * splitRange cuts `r` at `at` into [lo, at) and [at, hi). Throws RangeError unless
 * lo < at < hi, so both halves are non-empty.
 */
export function splitRange(r: HashRange, at: number): [HashRange, HashRange] {
  if (!Number.isInteger(at) || at <= r.lo || at >= r.hi) throw new RangeError(`split point ${at} is not strictly inside [${r.lo}, ${r.hi})`)
  return [
    {lo: r.lo, hi: at},
    {lo: at, hi: r.hi},
  ]
}

/**
 * checkTiling verifies that `ranges`, sorted by lo, cover [0, HASH_SPACE) with no gap and
 * no overlap. Returns a description of the first problem, or undefined when they tile.
 */
export function checkTiling(ranges: readonly HashRange[]): string | undefined {
  const sorted = [...ranges].sort((a, b) => a.lo - b.lo)
  let expect = 0
  for (const r of sorted) {
    if (r.lo !== expect) return r.lo > expect ? `gap in hash space at [${expect}, ${r.lo})` : `ranges overlap at ${r.lo}`
    if (r.hi <= r.lo) return `empty range [${r.lo}, ${r.hi})`
    expect = r.hi
  }
  if (expect !== HASH_SPACE) return `gap in hash space at [${expect}, ${HASH_SPACE})`
  return undefined
}

/** findRange returns the index of the range containing `h` in `sorted` (sorted by lo, tiling), by binary search; -1 if none. */
export function findRange(sorted: readonly HashRange[], h: number): number {
  let lo = 0
  let hi = sorted.length - 1
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1
    const r = sorted[mid]!
    if (h < r.lo) hi = mid - 1
    else if (h >= r.hi) lo = mid + 1
    else return mid
  }
  return -1
}
