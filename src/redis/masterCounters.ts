import {type OpCounts, opsRate, parseCommandStats} from './commandStats.js'
import {withRedisNode} from './redisConnection.js'

/** MasterLoad is one master's measured client ops/s over a window and its used memory at the end. */
export interface MasterLoad {
  address: string
  opsPerSec: number
  usedMemory: number
}

/** readCounters reads `INFO commandstats` and `used_memory` of the node at `address`. */
async function readCounters(address: string): Promise<{ops: OpCounts; usedMemory: number}> {
  return withRedisNode(address, async (r) => {
    const ops = parseCommandStats(String(await r.info('commandstats')))
    const usedMemory = Number(/used_memory:(\d+)/.exec(String(await r.info('memory')))?.[1] ?? 0)
    return {ops, usedMemory}
  })
}

/**
 * measureMasterLoad measures each master's client ops/s (reads + writes from INFO
 * commandstats, admin commands excluded) between two readings `windowMs` apart, and its
 * used memory at the second reading. `sleep` waits out the window (abortable by the caller).
 */
export async function measureMasterLoad(addresses: readonly string[], windowMs: number, sleep: (ms: number) => Promise<void>): Promise<MasterLoad[]> {
  const first = await Promise.all(addresses.map((a) => readCounters(a)))
  const t0 = Date.now()
  await sleep(windowMs)
  const second = await Promise.all(addresses.map((a) => readCounters(a)))
  const ms = Date.now() - t0
  return addresses.map((address, i) => {
    const rate = opsRate(first[i]?.ops ?? {reads: 0, writes: 0}, second[i]?.ops ?? {reads: 0, writes: 0}, ms)
    return {address, opsPerSec: rate.reads + rate.writes, usedMemory: second[i]?.usedMemory ?? 0}
  })
}

/** worstOverMean (pure) is the largest value over the mean of `values` (1 = perfectly even; null when the mean is 0). */
export function worstOverMean(values: readonly number[]): number | null {
  if (values.length === 0) return null
  const mean = values.reduce((a, b) => a + b, 0) / values.length
  return mean > 0 ? Math.max(...values) / mean : null
}
