import {type OpCounts} from './commandStats.js'

/** ShardSample is what sampling found in one shard's slots on its master. */
export interface ShardSample {
  shard: number
  node: string
  /** keys is the exact key count (sum of CLUSTER COUNTKEYSINSLOT). */
  keys: number
  /** bytes is the shard's estimated memory (stratified by slot, see estimateBytes); null when no key could be sampled. */
  bytes: number | null
  /**
   * opsWeight is the shard's measured share signal for operations (CPU microseconds from
   * SLOT-STATS, or estimated LFU accesses); absent or null: split by key share.
   */
  opsWeight?: number | null
}

/**
 * estimateBytes (pure) estimates a shard's memory from per-slot samples: each sampled slot
 * contributes its key count x its own mean sampled size; keys in unsampled slots get the
 * mean over all sampled keys. Returns null when nothing was sampled. Stratifying by slot
 * keeps one slot of big values from being averaged away by many slots of small ones. The
 * same estimator totals any per-key quantity (the sampler also feeds it LFU access weights).
 */
export function estimateBytes(totalKeys: number, sampled: readonly {keys: number; sizes: readonly number[]}[]): number | null {
  const withSizes = sampled.filter((s) => s.sizes.length > 0)
  const n = withSizes.reduce((a, s) => a + s.sizes.length, 0)
  if (n === 0) return null
  const overallMean = withSizes.reduce((a, s) => a + s.sizes.reduce((x, y) => x + y, 0), 0) / n
  let bytes = 0
  let covered = 0
  for (const s of withSizes) {
    bytes += s.keys * (s.sizes.reduce((x, y) => x + y, 0) / s.sizes.length)
    covered += s.keys
  }
  return Math.round(bytes + Math.max(0, totalKeys - covered) * overallMean)
}

/** ShardLoadEstimate is one shard's estimated load in the planner's units. */
export interface ShardLoadEstimate {
  node: string
  shard: number
  reads: number
  writes: number
  bytes: number
  keys: number
}

/**
 * apportionLoad (pure) estimates each shard's load: bytes as sampled (keys x the node's mean
 * bytes per key where the shard had no sample); reads/writes = its node's measured ops/s
 * split by the shard's share of the node's `opsWeight` when every shard of that node has one
 * and they sum above 0, otherwise by its share of the node's keys (an even split over the
 * node's shards when the node holds no keys). Every node's shard figures sum to its measured ops/s.
 */
export function apportionLoad(samples: readonly ShardSample[], nodeOps: ReadonlyMap<string, OpCounts>): ShardLoadEstimate[] {
  const byNode = new Map<string, ShardSample[]>()
  for (const s of samples) byNode.set(s.node, [...(byNode.get(s.node) ?? []), s])
  const out: ShardLoadEstimate[] = []
  for (const [node, list] of byNode) {
    const totalKeys = list.reduce((a, s) => a + s.keys, 0)
    const estimated = list.filter((s) => s.bytes !== null && s.keys > 0)
    const ek = estimated.reduce((a, s) => a + s.keys, 0)
    const nodeMean = ek > 0 ? estimated.reduce((a, s) => a + (s.bytes ?? 0), 0) / ek : 0
    const ops = nodeOps.get(node) ?? {reads: 0, writes: 0}
    const weights = list.map((s) => s.opsWeight ?? null)
    const totalWeight = weights.every((w) => w !== null) ? weights.reduce((a: number, w) => a + (w ?? 0), 0) : 0
    for (const s of list) {
      const share = totalWeight > 0 ? (s.opsWeight ?? 0) / totalWeight : totalKeys > 0 ? s.keys / totalKeys : 1 / list.length
      out.push({node, shard: s.shard, reads: ops.reads * share, writes: ops.writes * share, bytes: s.bytes ?? Math.round(s.keys * nodeMean), keys: s.keys})
    }
  }
  return out.sort((a, b) => a.shard - b.shard)
}
