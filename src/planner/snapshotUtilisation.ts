import {type ClusterSnapshot} from '../model/snapshot.js'
import {ClusterState} from './clusterState.js'
import {type PlanOptionsInput, resolvePlanOptions} from './options.js'
import {imbalanceOf, nodeFigures} from './planFigures.js'

/** NodeUtilisation is one node's utilisation: overall and per resource, 1 being its fair share of the cluster's load. */
export interface NodeUtilisation {
  utilisation: number
  perResource: {reads: number; writes: number; bytes: number}
}

/** SnapshotUtilisation is every node's utilisation and the imbalance (largest utilisation among nodes that keep data). */
export interface SnapshotUtilisation {
  nodes: ReadonlyMap<string, NodeUtilisation>
  imbalance: number
}

/**
 * snapshotUtilisation computes the figures a plan's `before` states for `snapshot`: the
 * same model and the same arithmetic, so a live view built on it agrees with the plans.
 * Pure. `options` weigh the resources (defaults as `shardctl plan`). The planner's internals
 * stay private: callers outside the planner (the TUI) use this, not ClusterState.
 * Throws UserError UNREACHABLE_TARGET when every node is draining (none keeps data).
 */
export function snapshotUtilisation(snapshot: ClusterSnapshot, options: PlanOptionsInput = {}): SnapshotUtilisation {
  const state = ClusterState.fromSnapshot(snapshot, resolvePlanOptions(options))
  const figures = nodeFigures(state)
  const nodes = new Map<string, NodeUtilisation>()
  state.model.nodeIds.forEach((id, i) => nodes.set(id, {utilisation: figures[i]!.utilisation, perResource: figures[i]!.perResource}))
  return {nodes, imbalance: imbalanceOf(state, figures)}
}
