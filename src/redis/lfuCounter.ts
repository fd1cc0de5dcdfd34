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
 * LFU_INIT_VAL to `counter` with `logFactor` (sum over c of (c - 5) * f + 1). A key at or
 * below LFU_INIT_VAL (never accessed since it was written, or decayed) weighs 0: its creation
 * is not load, and counting it as one access made every cold key weigh as much as a hot key
 * read once, which spread a master's ops over its shards almost evenly (the redis demo's plan
 * then moved every hot shard away). Non-decreasing in `counter`. Throws RangeError for a
 * counter outside 0..255 or a negative factor.
 */
export function lfuAccessWeight(counter: number, logFactor: number): number {
  if (!Number.isInteger(counter) || counter < 0 || counter > 255) throw new RangeError(`LFU counter ${counter} is outside 0..255`)
  if (!(logFactor >= 0)) throw new RangeError(`lfu-log-factor ${logFactor} is negative`)
  if (counter <= LFU_INIT_VAL) return 0
  const steps = counter - LFU_INIT_VAL
  return steps + (logFactor * steps * (steps - 1)) / 2
}

/** isLfuPolicy tells whether a maxmemory-policy keeps LFU counters (allkeys-lfu, volatile-lfu). */
export function isLfuPolicy(policy: string): boolean {
  return /-lfu$/i.test(policy.trim())
}
