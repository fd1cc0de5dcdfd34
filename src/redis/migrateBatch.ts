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
