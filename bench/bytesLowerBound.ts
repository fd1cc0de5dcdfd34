import {type ClusterState} from '../src/planner/clusterState.js'

/**
 * bytesLowerBound is a floor under the bytes any plan reaching the target must copy: every
 * byte on draining nodes, plus, for each node above the target, the fewest bytes whose load
 * covers its excess (its replicas taken by load per byte, the last one fractionally). It
 * ignores where the load can go (zones, room), so real plans need more; it shows how far a
 * plan is from the cheapest conceivable one, and why a baseline that moves fewer bytes
 * cannot have reached the target.
 */
export function bytesLowerBound(state: ClusterState): number {
  let total = 0
  for (let n = 0; n < state.model.nodeCount; n++) {
    const slots = state.placement.nodeSlots[n]!
    if (state.model.nodeState[n] === 'draining') {
      for (const slot of slots) total += state.slotBytes(slot)
      continue
    }
    let excess = state.placement.util[n]! - state.model.target
    if (excess <= 0 || !state.model.inPool[n]) continue
    const perByte = (slot: number) => state.utilDelta(slot, n) / Math.max(1, state.slotBytes(slot))
    for (const slot of [...slots].sort((a, b) => perByte(b) - perByte(a) || a - b)) {
      if (excess <= 0) break
      const load = state.utilDelta(slot, n)
      if (load <= 0) continue
      total += Math.min(1, excess / load) * state.slotBytes(slot)
      excess -= load
    }
  }
  return total
}
