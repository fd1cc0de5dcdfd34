import {type DigestResponse} from '../node/protocol.js'

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

/** AgreedDigests are digests all taken at one tombstone cutoff (undefined: a replica ignored cutoffs). */
export interface AgreedDigests<K> {
  digests: Map<K, DigestResponse>
  cutoff: number | undefined
}

/**
 * agreedDigests asks every replica for its digest at `cutoff` through `ask` and, while the
 * replicas answered with different cutoffs (each clamps to its own clock minus grace),
 * asks again at the oldest of them — a cutoff every replica then takes as is, since no
 * node's clamp goes backwards. Gives up after `attempts` and returns the last answers with
 * cutoff undefined (the caller must then treat the digests as not comparable).
 */
export async function agreedDigests<K>(ask: (cutoff: number) => Promise<Map<K, DigestResponse>>, cutoff: number, attempts = 4): Promise<AgreedDigests<K>> {
  let at = cutoff
  let digests = new Map<K, DigestResponse>()
  for (let i = 0; i < attempts; i++) {
    digests = await ask(at)
    const used = [...digests.values()].map((d) => d.tombstonesBefore)
    if (used.some((c) => c === undefined)) return {digests, cutoff: undefined}
    const oldest = Math.min(...(used as number[]))
    if (used.every((c) => c === at) || digests.size === 0) return {digests, cutoff: at}
    at = oldest
  }
  return {digests, cutoff: undefined}
}
