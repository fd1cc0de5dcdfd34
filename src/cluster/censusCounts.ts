import {z} from 'zod'

/**
 * The shard census as numbers (pure, no I/O): what `cluster status`, `node list` and `top`
 * need from the shard map, kept so that a shard write changes it by a small delta.
 * Under-replication depends on the cluster's rf, so the census keeps a histogram of voter
 * counts instead of one number: {@link underReplicatedOf} reads it for any rf.
 */

/** CensusCounts are exact counts over a set of shard records. */
export interface CensusCounts {
  shards: number
  /** moving counts shards with a replica that is not a voter (a move in flight). */
  moving: number
  /** byVoters[v] counts shards with exactly v voters. */
  byVoters: Record<string, number>
  /** replicasByNode counts every replica (any role) per node. */
  replicasByNode: Record<string, number>
}

export const CensusCountsSchema = z.object({
  shards: z.number().int(),
  moving: z.number().int(),
  byVoters: z.record(z.string(), z.number().int()),
  replicasByNode: z.record(z.string(), z.number().int()),
})

/** ShardShape is the part of a shard record the census reads (a Shard, or a structurally checked record). */
export interface ShardShape {
  replicas: readonly {node: string; role: string}[]
}

/** emptyCounts returns the counts of no shards. */
export function emptyCounts(): CensusCounts {
  return {shards: 0, moving: 0, byVoters: {}, replicasByNode: {}}
}

function bump(map: Record<string, number>, key: string, by: number): void {
  const next = (map[key] ?? 0) + by
  // Zero entries are dropped so equal counts compare equal however they were reached.
  if (next === 0) delete map[key]
  else map[key] = next
}

/** addShard adds (`sign` 1) or removes (`sign` -1) one shard's contribution to `counts`, in place. */
export function addShard(counts: CensusCounts, shard: ShardShape, sign: 1 | -1): CensusCounts {
  let voters = 0
  for (const r of shard.replicas) {
    bump(counts.replicasByNode, r.node, sign)
    if (r.role === 'voter') voters++
  }
  counts.shards += sign
  if (voters < shard.replicas.length) counts.moving += sign
  bump(counts.byVoters, String(voters), sign)
  return counts
}

/** addCounts adds `delta` to `counts` in place and returns it. */
export function addCounts(counts: CensusCounts, delta: CensusCounts): CensusCounts {
  counts.shards += delta.shards
  counts.moving += delta.moving
  for (const [k, v] of Object.entries(delta.byVoters)) bump(counts.byVoters, k, v)
  for (const [k, v] of Object.entries(delta.replicasByNode)) bump(counts.replicasByNode, k, v)
  return counts
}

/** shardDelta is what replacing `before` (absent: a new shard) by `after` (absent: deleted) changes. */
export function shardDelta(before: ShardShape | undefined, after: ShardShape | undefined): CensusCounts {
  const d = emptyCounts()
  if (before) addShard(d, before, -1)
  if (after) addShard(d, after, 1)
  return d
}

/** isZero tells whether a delta changes nothing (a write that kept every role and node). */
export function isZero(d: CensusCounts): boolean {
  return d.shards === 0 && d.moving === 0 && Object.keys(d.byVoters).length === 0 && Object.keys(d.replicasByNode).length === 0
}

/** countShards is the census of `shards` from scratch. */
export function countShards(shards: Iterable<ShardShape>): CensusCounts {
  const c = emptyCounts()
  for (const s of shards) addShard(c, s, 1)
  return c
}

/** underReplicatedOf counts the shards with fewer than `rf` voters. */
export function underReplicatedOf(counts: CensusCounts, rf: number): number {
  let n = 0
  for (const [voters, count] of Object.entries(counts.byVoters)) if (Number(voters) < rf) n += count
  return n
}
