import {type ClusterNode} from '../model/node.js'
import {type Shard} from '../model/shard.js'
import {type RedisClusterNode, shortNodeId, slotRuns} from './clusterNodes.js'
import {SLOT_COUNT, rangeOfSlots} from './slotMap.js'

/** DEFAULT_SLOTS_PER_SHARD: 128 shards of 128 slots, fine enough for the planner to balance 3-10 masters without splitting. */
export const DEFAULT_SLOTS_PER_SHARD = 128

/**
 * redisLayout (pure) turns a Redis Cluster's masters into shardctl records: one node per
 * live master (id {@link shortNodeId}, zone `default`), and shards that are contiguous slot
 * runs of one master cut to at most `slotsPerShard` slots, numbered in slot order, each with
 * that master as its only voter (rf 1: a master's replicas follow it). Throws Error when the
 * masters do not cover every slot exactly once, or two masters share a short id.
 */
export function redisLayout(masters: readonly RedisClusterNode[], slotsPerShard: number, now: string): {nodes: ClusterNode[]; shards: Shard[]} {
  if (!Number.isInteger(slotsPerShard) || slotsPerShard < 1 || slotsPerShard > SLOT_COUNT) throw new RangeError(`slots per shard must be an integer in 1..${SLOT_COUNT}, got ${slotsPerShard}`)
  const ids = new Set(masters.map((m) => shortNodeId(m.id)))
  if (ids.size !== masters.length) throw new Error('two masters share the first 12 digits of their ids')
  const nodes: ClusterNode[] = masters
    .map((m) => ({id: shortNodeId(m.id), address: m.address, zone: 'default', capacity: {}, state: 'active' as const, createdAt: now}))
    .sort((a, b) => a.id.localeCompare(b.id))
  const shards: Shard[] = slotRuns(masters, slotsPerShard, SLOT_COUNT).map((run, id) => ({
    id,
    range: rangeOfSlots(run.from, run.to),
    epoch: 1,
    replicas: [{node: shortNodeId(run.owner), role: 'voter' as const}],
  }))
  return {nodes, shards}
}
