import {type NodeLoadFigures, type PlanNode} from '../model/plan.js'
import {roundUtil} from './actionLog.js'
import {type ClusterState, LOAD_WIDTH, RES} from './clusterState.js'

/**
 * nodeFigures computes every node's load and utilisation from scratch (summing its
 * replicas in slot order), not from the incrementally updated totals, so the figures equal
 * what recomputing from the snapshot with the plan applied gives.
 */
export function nodeFigures(state: ClusterState): NodeLoadFigures[] {
  const n = state.model.nodeCount
  const sums = new Float64Array(n * LOAD_WIDTH)
  const replicas = new Int32Array(n)
  const slotNode = state.placement.slotNode
  const slotLoads = state.placement.slotLoads
  for (let slot = 0; slot < state.placement.slotCount; slot++) {
    const node = slotNode[slot]!
    replicas[node]!++
    for (let k = 0; k < LOAD_WIDTH; k++) sums[node * LOAD_WIDTH + k]! += slotLoads[slot * LOAD_WIDTH + k]!
  }
  const out: NodeLoadFigures[] = []
  for (let i = 0; i < n; i++) {
    const per = [0, 0, 0]
    let u = 0
    for (let r = 0; r < RES; r++) {
      per[r] = sums[i * LOAD_WIDTH + r]! * state.model.shareScale[i * RES + r]!
      u += state.model.weights[r]! * per[r]!
    }
    // Keys in sorted order (see canonicalPlanJson).
    out.push({
      bytes: sums[i * LOAD_WIDTH + 2]!,
      keys: sums[i * LOAD_WIDTH + 3]!,
      perResource: {bytes: roundUtil(per[2]!), reads: roundUtil(per[0]!), writes: roundUtil(per[1]!)},
      reads: sums[i * LOAD_WIDTH]!,
      replicas: replicas[i]!,
      utilisation: roundUtil(u),
      writes: sums[i * LOAD_WIDTH + 1]!,
    })
  }
  return out
}

/** imbalanceOf is the largest utilisation among pool nodes (not draining): 1 is perfectly even. */
export function imbalanceOf(state: ClusterState, figures: readonly NodeLoadFigures[]): number {
  let max = 0
  figures.forEach((f, i) => {
    if (state.model.inPool[i]) max = Math.max(max, f.utilisation)
  })
  return max
}

/**
 * loadOutsideTarget is the lower bound of the load any plan reaching the target must move,
 * in average-node units: everything on draining nodes plus every pool node's load above the
 * target, or every receiving node's shortfall below the floor if that is larger (one move
 * can cure an excess and a shortfall at once, so the larger side bounds).
 */
export function loadOutsideTarget(state: ClusterState): number {
  let above = 0
  let below = 0
  for (let i = 0; i < state.model.nodeCount; i++) {
    if (state.model.nodeState[i] === 'draining') {
      for (const slot of state.placement.nodeSlots[i]!) above += state.slotUnits(slot)
      continue
    }
    if (!state.model.inPool[i]) continue
    const u = state.placement.util[i]!
    if (u > state.model.target) above += (u - state.model.target) * state.model.kappa[i]!
    else if (state.model.receiver[i] && u < state.model.floor) below += (state.model.floor - u) * state.model.kappa[i]!
  }
  return Math.max(above, below)
}

/** planNodes pairs each node's before and after figures for the plan file. */
export function planNodes(state: ClusterState, before: readonly NodeLoadFigures[], after: readonly NodeLoadFigures[]): PlanNode[] {
  return state.model.nodeIds.map((id, i) => ({
    after: after[i]!,
    alive: state.model.alive[i] === 1,
    before: before[i]!,
    id,
    state: state.model.nodeState[i]!,
    zone: state.model.zoneNames[state.model.nodeZone[i]!]!,
  }))
}
