import {digestFormatOf, type DigestResponse} from '../node/protocol.js'
import {RECORD_HASH_FORMAT} from '../node/recordHash.js'

/** DEFAULT_MAX_CLOCK_OFFSET_MS is the cluster's bound on clock offset between participants when none is configured. */
export const DEFAULT_MAX_CLOCK_OFFSET_MS = 500

/**
 * initialCutoff is the tombstone cutoff a requester starts from: its clock minus twice
 * the maximum clock offset, so a replica whose clock is behind by up to the bound does not
 * have to lower it for being slow. Each node lowers it further to its own clock minus its
 * tombstone grace (see DigestResponse); the requester then agrees on the oldest.
 */
export function initialCutoff(now: number, maxClockOffsetMs = DEFAULT_MAX_CLOCK_OFFSET_MS): number {
  return Math.floor(now - 2 * maxClockOffsetMs)
}

/**
 * AgreedDigests are digests all taken at one tombstone cutoff and one record hash format
 * (cutoff undefined: a replica ignored cutoffs, or the replicas did not agree in time).
 */
export interface AgreedDigests<K> {
  digests: Map<K, DigestResponse>
  cutoff: number | undefined
  /** format is the record hash format every digest in `digests` was computed at (when cutoff is defined). */
  format: number
}

/**
 * agreedDigests asks every replica for its digest at `cutoff` and record hash `format`
 * through `ask` and asks again while the answers are not comparable:
 * - replicas answered different cutoffs (each clamps to its own clock minus grace): ask at
 *   the oldest of them — a cutoff every replica then takes as is, since no node's clamp
 *   goes backwards;
 * - replicas answered different formats (a rolling upgrade: a node of an older build
 *   answers at its own format whatever was asked): ask at the oldest of them, which a node
 *   of a newer build computes from its rows.
 * Gives up after `attempts` and returns the last answers with cutoff undefined (the caller
 * must then treat the digests as not comparable).
 */
export async function agreedDigests<K>(
  ask: (cutoff: number, format: number) => Promise<Map<K, DigestResponse>>,
  cutoff: number,
  attempts = 4,
  format: number = RECORD_HASH_FORMAT,
): Promise<AgreedDigests<K>> {
  let at = cutoff
  let fmt = format
  let digests = new Map<K, DigestResponse>()
  for (let i = 0; i < attempts; i++) {
    digests = await ask(at, fmt)
    if (digests.size === 0) return {digests, cutoff: at, format: fmt}
    const used = [...digests.values()].map((d) => d.tombstonesBefore)
    if (used.some((c) => c === undefined)) return {digests, cutoff: undefined, format: fmt}
    const formats = [...digests.values()].map(digestFormatOf)
    const sameFormat = formats.every((f) => f === fmt)
    if (used.every((c) => c === at) && sameFormat) return {digests, cutoff: at, format: fmt}
    at = Math.min(...(used as number[]))
    if (!sameFormat) fmt = Math.min(...formats)
  }
  return {digests, cutoff: undefined, format: fmt}
}
