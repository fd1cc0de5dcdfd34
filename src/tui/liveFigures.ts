import {type ClusterMeta} from '../model/cluster.js'
import {type ClusterNode} from '../model/node.js'
import {type ClusterSnapshot} from '../model/snapshot.js'
import {type Shard} from '../model/shard.js'
import {type NodeStats} from '../model/stats.js'
import {type NodeUtilisation, snapshotUtilisation} from '../planner/snapshotUtilisation.js'

/** LiveNodeFigures is one node's utilisation now: per resource and overall, 1 being the cluster mean. */
export type LiveNodeFigures = NodeUtilisation

/** LiveFigures are the planner's load figures for the cluster as it is now. */
export interface LiveFigures {
  nodes: ReadonlyMap<string, LiveNodeFigures>
  /** imbalance is the largest utilisation among alive, non-draining nodes (1 = perfectly even); null when unknown. */
  imbalance: number | null
}

/** LiveInput is the part of the TUI state the figures are computed from. */
export interface LiveInput {
  meta: ClusterMeta | null
  nodes: ReadonlyMap<string, ClusterNode>
  alive: ReadonlySet<string>
  shards: ReadonlyMap<number, Shard>
  stats: ReadonlyMap<string, NodeStats>
}

/**
 * liveFigures computes node utilisation and the imbalance exactly as the planner does
 * (through the planner's snapshotUtilisation, fed as `readSnapshot` would), so the TUI's "now"
 * matches a plan's "before". Pure. Returns no figures when nothing is known yet (no meta,
 * no load published, or no alive node to hold data).
 */
export function liveFigures(input: LiveInput): LiveFigures {
  if (!input.meta || input.nodes.size === 0 || input.stats.size === 0) return {nodes: new Map(), imbalance: null}
  const known = new Set(input.nodes.keys())
  const shards = [...input.shards.values()].map((s) => ({...s, replicas: s.replicas.filter((r) => known.has(r.node))})).filter((s) => s.replicas.length > 0)
  const held = new Set(shards.flatMap((s) => s.replicas.map((r) => `${s.id}@${r.node}`)))
  const load = [...input.stats.values()].flatMap((st) => st.shards.filter((l) => held.has(`${l.shard}@${st.node}`)).map((l) => ({node: st.node, ...l})))
  if (load.length === 0) return {nodes: new Map(), imbalance: null}
  const snapshot: ClusterSnapshot = {
    version: 1,
    cluster: input.meta,
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
