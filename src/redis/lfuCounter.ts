/**
 * Redis's LFU counter (`OBJECT FREQ` under an `*-lfu` maxmemory-policy), turned back into an
 * estimate of how often a key was accessed. The counter is logarithmic: a new key starts at
 * LFU_INIT_VAL (5), and an access raises a counter `c` by one with probability
 * 1 / ((c - 5) * lfu-log-factor + 1); it decays by one per `lfu-decay-time` minutes idle.
 */

/** LFU_INIT_VAL is the counter a new key starts with (server.h). */
export const LFU_INIT_VAL = 5

/**
 * lfuAccessWeight (pure) is the expected number of accesses that raise a counter from
 * LFU_INIT_VAL to `counter` with `logFactor` (sum over c of (c - 5) * f + 1), plus one for the
 * key's own creation; counters below the initial value (decayed keys) scale down towards 0.
 * Monotonic in `counter`, so relative weights of keys keep their order. Throws RangeError for
 * a counter outside 0..255 or a negative factor.
 */
export function lfuAccessWeight(counter: number, logFactor: number): number {
  if (!Number.isInteger(counter) || counter < 0 || counter > 255) throw new RangeError(`LFU counter ${counter} is outside 0..255`)
  if (!(logFactor >= 0)) throw new RangeError(`lfu-log-factor ${logFactor} is negative`)
  if (counter <= LFU_INIT_VAL) return counter / LFU_INIT_VAL
  const steps = counter - LFU_INIT_VAL
  return 1 + steps + (logFactor * steps * (steps - 1)) / 2
}

/** isLfuPolicy tells whether a maxmemory-policy keeps LFU counters (allkeys-lfu, volatile-lfu). */
export function isLfuPolicy(policy: string): boolean {
  return /-lfu$/i.test(policy.trim())
}
