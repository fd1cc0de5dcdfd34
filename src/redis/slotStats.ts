/**
 * Per-slot counters from `CLUSTER SLOT-STATS` (Valkey 8+, Redis 8.2+), pure parsing and
 * window arithmetic: the best load signal a server offers, since it counts each slot's own
 * CPU time instead of inferring it from keys.
 */

/** SlotCounters are one slot's cumulative SLOT-STATS figures; a metric the server did not return is absent. */
export interface SlotCounters {
  keyCount: number
  /** cpuUsec is CPU time spent on the slot (only with `cluster-slot-stats-enabled yes`). */
  cpuUsec?: number
  networkBytesIn?: number
  networkBytesOut?: number
}

/**
 * parseSlotStats reads a `CLUSTER SLOT-STATS SLOTSRANGE a b` (or ORDERBY) reply, as a RESP2
 * client decodes it: an array of `[slot, [name, value, name, value, ...]]`, metric names in
 * any case. Returns slot -> counters. Throws Error naming the first entry that does not have
 * that shape, so a server that answers differently is reported rather than misread.
 */
export function parseSlotStats(reply: unknown): Map<number, SlotCounters> {
  if (!Array.isArray(reply)) throw new Error(`CLUSTER SLOT-STATS reply is not an array: ${JSON.stringify(reply)?.slice(0, 80)}`)
  const out = new Map<number, SlotCounters>()
  reply.forEach((entry: unknown, i) => {
    const slot = Array.isArray(entry) ? Number(entry[0]) : NaN
    const metrics: unknown = Array.isArray(entry) ? entry[1] : undefined
    if (!Number.isInteger(slot) || slot < 0 || slot > 16383 || !Array.isArray(metrics) || metrics.length % 2 !== 0) {
      throw new Error(`CLUSTER SLOT-STATS entry ${i} is not [slot, [metric, value, ...]]: ${JSON.stringify(entry)?.slice(0, 80)}`)
    }
    const c: SlotCounters = {keyCount: 0}
    for (let j = 0; j < metrics.length; j += 2) {
      const value = Number(metrics[j + 1])
      if (!Number.isFinite(value)) throw new Error(`CLUSTER SLOT-STATS slot ${slot}: metric ${String(metrics[j])} is not a number`)
      switch (String(metrics[j]).toLowerCase()) {
        case 'key-count':
          c.keyCount = value
          break
        case 'cpu-usec':
          c.cpuUsec = value
          break
        case 'network-bytes-in':
          c.networkBytesIn = value
          break
        case 'network-bytes-out':
          c.networkBytesOut = value
          break
        default: // newer metrics (memory-bytes, ...) are not used
      }
    }
    out.set(slot, c)
  })
  return out
}

/**
 * slotCpuDelta is each slot's CPU time between two readings (slots missing from either
 * reading, or whose counter went backwards after a reset or a migration, count 0). Returns
 * null when the readings carry no `cpu-usec` (the server collects only key counts unless
 * `cluster-slot-stats-enabled` is on), so the caller falls back to another signal.
 */
export function slotCpuDelta(before: ReadonlyMap<number, SlotCounters>, after: ReadonlyMap<number, SlotCounters>): Map<number, number> | null {
  const withCpu = [...after.values()].some((c) => c.cpuUsec !== undefined)
  if (!withCpu) return null
  const out = new Map<number, number>()
  for (const [slot, a] of after) {
    const b = before.get(slot)?.cpuUsec
    out.set(slot, a.cpuUsec !== undefined && b !== undefined && a.cpuUsec >= b ? a.cpuUsec - b : 0)
  }
  return out
}
