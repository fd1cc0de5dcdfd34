import {ActionLog} from '../src/planner/actionLog.js'
import {ClusterState} from '../src/planner/clusterState.js'
import {leastLoadedDestination} from '../src/planner/destinations.js'
import {resolvePlanOptions} from '../src/planner/options.js'
import {ReceiverIndex} from '../src/planner/receiverIndex.js'
import {type ClusterSnapshot} from '../src/model/snapshot.js'

/**
 * naivePlan is the bench's textbook baseline, not a product strategy: empty draining nodes
 * largest replica first, then repeatedly move the most utilised node's largest replica (by
 * load) to the least utilised node that keeps the placement rules, while that lowers the
 * pair's peak, until every node is within `maxImbalance` of the mean. It keeps the same
 * placement rules as the planner so the comparison is about choices, not rule-breaking.
 */
export function naivePlan(snapshot: ClusterSnapshot, maxImbalance: number): {state: ClusterState; log: ActionLog} {
  const options = resolvePlanOptions({maxImbalance})
  const state = ClusterState.fromSnapshot(snapshot, options)
  const log = new ActionLog(state, options)
  const index = new ReceiverIndex(state.placement.util, state.model.receiver, state.model.nodeZone, state.model.zoneNames.length)
  const byLoad = (a: number, b: number) => state.slotUnits(b) - state.slotUnits(a) || a - b
  for (let node = 0; node < state.model.nodeCount; node++) {
    if (state.model.nodeState[node] !== 'draining') continue
    for (const slot of [...state.placement.nodeSlots[node]!].sort(byLoad)) {
      const to = leastLoadedDestination(state, index, slot)
      if (to < 0 || !state.movable(slot)) continue
      log.move(slot, to, {kind: 'drain', detail: 'naive drain'})
      index.update(node)
      index.update(to)
    }
  }
  const limit = state.placement.slotCount * 4
  for (let i = 0; i < limit; i++) {
    let src = -1
    for (let n = 0; n < state.model.nodeCount; n++) if (state.model.inPool[n] && (src < 0 || state.placement.util[n]! > state.placement.util[src]!)) src = n
    if (src < 0 || state.placement.util[src]! <= maxImbalance) break
    let moved = false
    for (const slot of [...state.placement.nodeSlots[src]!].sort(byLoad)) {
      if (!state.movable(slot)) continue
      const to = leastLoadedDestination(state, index, slot)
      if (to < 0 || state.placement.util[to]! + state.utilDelta(slot, to) >= state.placement.util[src]!) continue
      log.move(slot, to, {kind: 'balance', detail: 'naive'})
      index.update(src)
      index.update(to)
      moved = true
      break
    }
    if (!moved) break
  }
  return {state, log}
}
