/**
 * BATCH_SECONDS is how much of the throttle's rate one MIGRATE batch carries at most. MIGRATE
 * blocks both masters while it serializes, sends and loads its keys, so at a low rate (an
 * adaptive throttle backing off because clients wait) batches get smaller and the stalls
 * shorter, rather than the same long stall coming less often.
 */
export const BATCH_SECONDS = 0.1

/**
 * migrateBatchKeys returns how many keys the next MIGRATE of a slot carries: at most
 * `maxKeys`, at most BATCH_SECONDS of `bytesPerSec` at the slot's mean key size so far
 * (`meanKeyBytes`, null before the first batch), and at most BATCH_SECONDS of `keysPerSec`;
 * never fewer than one. Null rates are unlimited. Pure.
 */
export function migrateBatchKeys(maxKeys: number, bytesPerSec: number | null, keysPerSec: number | null, meanKeyBytes: number | null): number {
  let n = maxKeys
  if (bytesPerSec !== null && meanKeyBytes !== null && meanKeyBytes > 0) n = Math.min(n, Math.floor((bytesPerSec * BATCH_SECONDS) / meanKeyBytes))
  if (keysPerSec !== null) n = Math.min(n, Math.floor(keysPerSec * BATCH_SECONDS))
  return Math.max(1, n)
}

/** tightestRate is the lowest of the non-null rates (null when every one is unlimited). Pure. */
export function tightestRate(rates: readonly (number | null)[]): number | null {
  const set = rates.filter((r): r is number => r !== null)
  return set.length === 0 ? null : Math.min(...set)
}

/**
 * batchByteBudget is the most bytes one MIGRATE carries: BATCH_SECONDS of the byte rate
 * (`bytesPerSec`, null unlimited) and never more than the big-key limit (`bigKeyBytes`), the
 * most the operator lets one key cost in a MIGRATE's stall. migrateBatchKeys sizes a batch at
 * the slot's mean key size so far, which a slot's first batch does not know: without this, up
 * to --batch-keys keys just under the limit went in one MIGRATE (100 × 8 MiB blocks both
 * masters past MIGRATE's timeout, and the retry sends the same batch). Pure.
 */
export function batchByteBudget(bytesPerSec: number | null, bigKeyBytes: number): number {
  return bytesPerSec === null ? bigKeyBytes : Math.min(bigKeyBytes, bytesPerSec * BATCH_SECONDS)
}

/**
 * keysWithinBytes returns how many of the listed keys (their sizes in order) one MIGRATE takes:
 * the longest prefix whose sizes add up to at most `budget`, and never fewer than one (a key
 * above the budget goes alone). Pure.
 */
export function keysWithinBytes(sizes: readonly number[], budget: number): number {
  let total = 0
  for (const [i, size] of sizes.entries()) {
    total += size
    if (total > budget) return Math.max(1, i)
  }
  return sizes.length
}
