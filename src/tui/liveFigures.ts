import {type ClusterMeta} from '../model/cluster.js'
import {type ClusterNode} from '../model/node.js'
import {type ClusterSnapshot} from '../model/snapshot.js'
import {type NodeStatsSummary} from '../model/stats.js'
import {type NodeUtilisation, snapshotUtilisation} from '../planner/snapshotUtilisation.js'

/** LiveNodeFigures is one node's utilisation now: per resource and overall, 1 being the cluster mean. */
export type LiveNodeFigures = NodeUtilisation

/** LiveFigures are the planner's load figures for the cluster as it is now. */
export interface LiveFigures {
  nodes: ReadonlyMap<string, LiveNodeFigures>
  /** imbalance is the largest utilisation among the planner's pool: every node but the draining ones, down nodes too (they still hold their replicas); 1 = perfectly even; null when unknown. */
  imbalance: number | null
}

/** NodeLoadTotals is one node's published load summed over its replicas, and how many replicas it reported. */
export interface NodeLoadTotals {
  reads: number
  writes: number
  bytes: number
  keys: number
  replicas: number
}

/** loadTotals is a node's load totals as its stats summary states them (the node sums its replicas when it publishes). */
export function loadTotals(stats: NodeStatsSummary): NodeLoadTotals {
  return {reads: stats.reads, writes: stats.writes, bytes: stats.bytes, keys: stats.keys, replicas: stats.replicas}
}

/** LiveInput is the part of the TUI state the figures are computed from: per-node aggregates only. */
export interface LiveInput {
  meta: ClusterMeta | null
  nodes: ReadonlyMap<string, ClusterNode>
  alive: ReadonlySet<string>
  /** replicasByNode is the census's replica count per node. */
  replicasByNode: Readonly<Record<string, number>>
  /** load is each publishing node's summed load. */
  load: ReadonlyMap<string, NodeLoadTotals>
}

/**
 * liveFigures computes node utilisation and the imbalance with the planner's arithmetic
 * (through snapshotUtilisation) from per-node aggregates, in O(nodes) whatever the number
 * of shards: each node is fed as one replica carrying its summed load. Utilisation is linear
 * in the load a node holds, so a publishing node's figures are the planner's (up to stats
 * that still list a replica the map moved away). A node holding replicas that publishes no
 * load (not serving yet) is estimated like the planner estimates such replicas, at the mean
 * load per reported replica, times its replica count from the census. Pure. Returns no
 * figures when nothing is known yet (no meta, no load published, or no node to hold data).
 */
export function liveFigures(input: LiveInput): LiveFigures {
  if (!input.meta || input.nodes.size === 0 || input.load.size === 0) return {nodes: new Map(), imbalance: null}
  const reported = {reads: 0, writes: 0, bytes: 0, keys: 0, replicas: 0}
  for (const [node, t] of input.load) {
    if (!input.nodes.has(node)) continue
    reported.reads += t.reads
    reported.writes += t.writes
    reported.bytes += t.bytes
    reported.keys += t.keys
    reported.replicas += t.replicas
  }
  if (reported.replicas === 0) return {nodes: new Map(), imbalance: null}
  const ids = [...input.nodes.keys()].sort()
  const shards: ClusterSnapshot['shards'] = []
  const load: ClusterSnapshot['load'] = []
  ids.forEach((node, i) => {
    const own = input.load.get(node)
    const replicas = input.replicasByNode[node] ?? 0
    const scale = own ? 1 : replicas / reported.replicas
    const t = own ?? reported
    if (!own && replicas === 0) return
    shards.push({id: i, range: {lo: i, hi: i + 1}, epoch: 1, replicas: [{node, role: 'voter'}]})
    load.push({node, shard: i, reads: t.reads * scale, writes: t.writes * scale, bytes: t.bytes * scale, keys: t.keys * scale})
  })
  const snapshot: ClusterSnapshot = {
    version: 1,
    cluster: {...input.meta, nextShardId: ids.length},
    revision: '0',
    fingerprint: '0'.repeat(64),
    nodes: [...input.nodes.values()].map((n) => ({...n, alive: input.alive.has(n.id)})),
    shards,
    load,
    constraints: [],
  }
  try {
    return snapshotUtilisation(snapshot)
  } catch {
    return {nodes: new Map(), imbalance: null} // no alive node outside draining
  }
}
