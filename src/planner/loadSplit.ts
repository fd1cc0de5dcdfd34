import {rangeMidpoint} from '../model/range.js'

/** MIN_SAMPLES: fewer sampled requests than this in a range say too little about where its load sits; split at the midpoint then. */
export const MIN_SAMPLES = 8
/** HOT_KEY_SHARE: one key hash taking at least this share of a range's sampled requests is a hot key: no split divides it. */
export const HOT_KEY_SHARE = 0.5

/**
 * SplitChoice is where to split a range and why: `load` at the point where the sampled load
 * halves (`below` is the share of the sample below `at`), `midpoint` at the hash midpoint
 * when no usable sample exists (`below` 0.5 by assumption), or `hot-key` when one key drives
 * the load (`hash`, with `share` of the sample), which no split can divide.
 */
export type SplitChoice = {kind: 'load' | 'midpoint'; at: number; below: number} | {kind: 'hot-key'; hash: number; share: number} | {kind: 'none'}

/**
 * loadSplitPoint chooses where to split the range [lo, hi) from a sorted sample of request
 * key hashes (duplicates are repeated requests; hashes outside the range are ignored):
 * at the sample's median, so each piece takes about half the load (like CockroachDB's
 * load-based splitting), unless one hash holds {@link HOT_KEY_SHARE} of the sample (a hot
 * key). With fewer than {@link MIN_SAMPLES} samples in range it falls back to the hash
 * midpoint. `none` when the range has fewer than two hash values. Pure.
 */
export function loadSplitPoint(sample: readonly number[] | undefined, lo: number, hi: number): SplitChoice {
  const midpoint = rangeMidpoint({lo, hi})
  if (midpoint === undefined) return {kind: 'none'}
  const inRange = (sample ?? []).filter((h) => h >= lo && h < hi)
  if (inRange.length < MIN_SAMPLES) return {kind: 'midpoint', at: midpoint, below: 0.5}
  const hot = mostFrequent(inRange)
  if (hot.count / inRange.length >= HOT_KEY_SHARE) return {kind: 'hot-key', hash: hot.hash, share: hot.count / inRange.length}
  // The first hash of the upper half: every copy of it goes up, so `at` is a real boundary.
  let cut = Math.floor(inRange.length / 2)
  // Move the cut to the nearer edge of a run of equal hashes (a key cannot be cut in two).
  let down = cut
  while (down > 0 && inRange[down - 1] === inRange[cut]) down--
  let up = cut
  while (up < inRange.length && inRange[up] === inRange[cut]) up++
  cut = down > 0 && (cut - down <= up - cut || up >= inRange.length) ? down : up
  const at = cut >= inRange.length ? hi - 1 : inRange[cut]!
  if (at <= lo) return {kind: 'load', at: lo + 1, below: countBelow(inRange, lo + 1) / inRange.length}
  return {kind: 'load', at, below: cut / inRange.length}
}

function mostFrequent(sorted: readonly number[]): {hash: number; count: number} {
  let best = {hash: sorted[0]!, count: 0}
  for (let i = 0; i < sorted.length; ) {
    let j = i
    while (j < sorted.length && sorted[j] === sorted[i]) j++
    if (j - i > best.count) best = {hash: sorted[i]!, count: j - i}
    i = j
  }
  return best
}

function countBelow(sorted: readonly number[], at: number): number {
  let n = 0
  for (const h of sorted) if (h < at) n++
  return n
}
