/**
 * Replica tallies for the live views of replication health — `top` and the autopilot — so
 * "under-replicated" means one thing in both: fewer **voters on live nodes** than rf. A
 * voter on a node whose lease lapsed holds data nobody can read; counting it would hide
 * exactly the shards the autopilot is about to heal. (`cluster status` applies this rule to
 * the stored census's voter-set histogram, censusCounts.ts's underReplicatedLive, when a
 * node holding replicas is down.) Pure: no I/O.
 */

/** ReplicaRef is the part of a replica a tally needs. */
export interface ReplicaRef {
  node: string
  role: string
}

/** liveVoters counts the voters of `replicas` on nodes in `alive` (every voter when `alive` is undefined). */
export function liveVoters(replicas: readonly ReplicaRef[], alive?: ReadonlySet<string>): number {
  let voters = 0
  for (const r of replicas) if (r.role === 'voter' && (alive === undefined || alive.has(r.node))) voters++
  return voters
}

/** ReplicaTally is what status views count over the shard map. */
export interface ReplicaTally {
  shards: number
  /** moving counts shards with a replica that is not a voter (a move in flight). */
  moving: number
  /** underReplicated counts shards with fewer voters on live nodes than rf. */
  underReplicated: number
  /** replicasByNode counts every replica (any role) per node. */
  replicasByNode: Map<string, number>
}

/**
 * tallyReplicas counts shards, moving shards, under-replicated shards (fewer voters on
 * `alive` nodes than `rf`; every voter counts when `alive` is undefined) and replicas per
 * node, in one pass over `shards`.
 */
export function tallyReplicas(shards: Iterable<{replicas: readonly ReplicaRef[]}>, rf: number, alive?: ReadonlySet<string>): ReplicaTally {
  const tally: ReplicaTally = {shards: 0, moving: 0, underReplicated: 0, replicasByNode: new Map()}
  for (const s of shards) {
    tally.shards++
    if (s.replicas.some((r) => r.role !== 'voter')) tally.moving++
    if (liveVoters(s.replicas, alive) < rf) tally.underReplicated++
    for (const r of s.replicas) tally.replicasByNode.set(r.node, (tally.replicasByNode.get(r.node) ?? 0) + 1)
  }
  return tally
}
