import {HASH_SPACE} from '../model/hash.js'
import {type HashRange} from '../model/range.js'

/** SLOT_COUNT is the number of Redis Cluster hash slots (CRC16 of the key's hash tag, mod 16384). */
export const SLOT_COUNT = 16384

/**
 * SLOT_WIDTH maps slots into shardctl's hash space: slot `s` is the hash range
 * [s * SLOT_WIDTH, (s + 1) * SLOT_WIDTH), so shard ranges of a Redis cluster tile the same
 * space as the kv engine's and the shared planner works on them unchanged.
 */
export const SLOT_WIDTH = HASH_SPACE / SLOT_COUNT

/** rangeOfSlots is the hash range of slots [from, to) (to exclusive). Throws RangeError outside 0..SLOT_COUNT. */
export function rangeOfSlots(from: number, to: number): HashRange {
  if (!Number.isInteger(from) || !Number.isInteger(to) || from < 0 || to > SLOT_COUNT || from >= to) throw new RangeError(`slot range [${from}, ${to}) is not inside [0, ${SLOT_COUNT})`)
  return {lo: from * SLOT_WIDTH, hi: to * SLOT_WIDTH}
}

/**
 * slotsOfRange returns the slots [first, end) a shard range holds: a slot belongs to the
 * range that contains its first hash value. So any tiling of the hash space (including one
 * the planner split at a point inside a slot) gives every slot to exactly one shard; a range
 * narrower than a slot may hold none (first === end).
 */
export function slotsOfRange(r: HashRange): {first: number; end: number} {
  return {first: Math.ceil(r.lo / SLOT_WIDTH), end: Math.min(SLOT_COUNT, Math.ceil(r.hi / SLOT_WIDTH))}
}
