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
  /**
   * byVoterSet counts shards per set of voter nodes (ids sorted, joined by ","), so that
   * under-replication on LIVE voters is known for any set of down nodes without reading
   * the map ({@link underReplicatedLive}). Absent means unknown: a base written before it
   * existed, or one whose sets outgrew {@link MAX_VOTER_SETS}; `cluster recount` restores it.
   */
  byVoterSet?: Record<string, number>
}

/**
 * MAX_VOTER_SETS bounds the distinct voter sets a census keeps: the base is one etcd value
 * (1.5 MiB request limit), and a cluster of a few dozen nodes has at most a few thousand
 * sets (12 nodes at rf 3: 220), while 1,000 nodes could have one per shard. Past it the
 * histogram is dropped and status counts live voters with one paged read instead.
 */
export const MAX_VOTER_SETS = 20_000

export const CensusCountsSchema = z.object({
  shards: z.number().int(),
  moving: z.number().int(),
  byVoters: z.record(z.string(), z.number().int()),
  replicasByNode: z.record(z.string(), z.number().int()),
  byVoterSet: z.record(z.string(), z.number().int()).optional(),
})

/** ShardShape is the part of a shard record the census reads (a Shard, or a structurally checked record). */
export interface ShardShape {
  replicas: readonly {node: string; role: string}[]
}

/** emptyCounts returns the counts of no shards. */
export function emptyCounts(): CensusCounts {
  return {shards: 0, moving: 0, byVoters: {}, replicasByNode: {}, byVoterSet: {}}
}

function bump(map: Record<string, number>, key: string, by: number): void {
  const next = (map[key] ?? 0) + by
  // Zero entries are dropped so equal counts compare equal however they were reached.
  if (next === 0) delete map[key]
  else map[key] = next
}

/** addShard adds (`sign` 1) or removes (`sign` -1) one shard's contribution to `counts`, in place. */
export function addShard(counts: CensusCounts, shard: ShardShape, sign: 1 | -1): CensusCounts {
  const voterNodes: string[] = []
  for (const r of shard.replicas) {
    bump(counts.replicasByNode, r.node, sign)
    if (r.role === 'voter') voterNodes.push(r.node)
  }
  const voters = voterNodes.length
  counts.shards += sign
  if (voters < shard.replicas.length) counts.moving += sign
  bump(counts.byVoters, String(voters), sign)
  if (counts.byVoterSet) bump(counts.byVoterSet, voterSetKey(voterNodes), sign)
  return counts
}

/** voterSetKey is the {@link CensusCounts.byVoterSet} key of a shard's voter nodes (order-free). */
export function voterSetKey(voterNodes: readonly string[]): string {
  return [...voterNodes].sort().join(',')
}

/** addCounts adds `delta` to `counts` in place and returns it. */
export function addCounts(counts: CensusCounts, delta: CensusCounts): CensusCounts {
  counts.shards += delta.shards
  counts.moving += delta.moving
  for (const [k, v] of Object.entries(delta.byVoters)) bump(counts.byVoters, k, v)
  for (const [k, v] of Object.entries(delta.replicasByNode)) bump(counts.replicasByNode, k, v)
  // Unknown on either side stays unknown (a delta from a writer that did not keep sets, or an overgrown base).
  if (counts.byVoterSet && delta.byVoterSet) {
    for (const [k, v] of Object.entries(delta.byVoterSet)) bump(counts.byVoterSet, k, v)
    if (Object.keys(counts.byVoterSet).length > MAX_VOTER_SETS) delete counts.byVoterSet
  } else delete counts.byVoterSet
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
  return d.shards === 0 && d.moving === 0 && Object.keys(d.byVoters).length === 0 && Object.keys(d.replicasByNode).length === 0 && (d.byVoterSet === undefined || Object.keys(d.byVoterSet).length === 0)
}

/** countShards is the census of `shards` from scratch. */
export function countShards(shards: Iterable<ShardShape>): CensusCounts {
  const c = emptyCounts()
  for (const s of shards) addShard(c, s, 1)
  if (c.byVoterSet && Object.keys(c.byVoterSet).length > MAX_VOTER_SETS) delete c.byVoterSet
  return c
}

/** underReplicatedOf counts the shards with fewer than `rf` voters. */
export function underReplicatedOf(counts: CensusCounts, rf: number): number {
  let n = 0
  for (const [voters, count] of Object.entries(counts.byVoters)) if (Number(voters) < rf) n += count
  return n
}

/**
 * underReplicatedLive counts the shards with fewer than `rf` voters on the nodes in
 * `alive` (the rule of liveVoters in replicaTally.ts, which `top` and the autopilot use),
 * from the voter-set histogram; undefined when the census does not hold one.
 */
export function underReplicatedLive(counts: Pick<CensusCounts, 'byVoterSet'>, rf: number, alive: ReadonlySet<string>): number | undefined {
  if (!counts.byVoterSet) return undefined
  let n = 0
  for (const [set, count] of Object.entries(counts.byVoterSet)) {
    let live = 0
    if (set !== '') for (const node of set.split(',')) if (alive.has(node)) live++
    if (live < rf) n += count
  }
  return n
}
