import {PlacementRing} from '../placement/ring.js'
import {type ActionLog} from './actionLog.js'
import {type ClusterState} from './clusterState.js'
import {type ReceiverIndex} from './receiverIndex.js'

/** RingOutcome counts the ring differences the placement rules did not allow (pins, forbids, capacity, zones). */
export interface RingOutcome {
  skipped: number
}

/**
 * ringMoves is the `ring` strategy: every shard's replica set is recomputed with the
 * consistent-hash ring over the nodes that may receive replicas, and each difference
 * becomes a move (a replica the ring drops paired with one it adds, same zone first).
 * Load-oblivious on purpose: it is the baseline load-aware plans are compared with. A
 * difference that would break a placement rule at that step (pinned replica, forbidden or
 * full node, zone spread) is skipped and counted. Stops at the move and byte limits.
 */
export function ringMoves(state: ClusterState, log: ActionLog, index: ReceiverIndex): RingOutcome {
  const receivers: {id: string; zone: string}[] = []
  for (let i = 0; i < state.model.nodeCount; i++) if (state.model.receiver[i]) receivers.push({id: state.model.nodeIds[i]!, zone: state.model.zoneNames[state.model.nodeZone[i]!]!})
  if (receivers.length === 0) return {skipped: 0}
  const ring = new PlacementRing(receivers)
  // The ring's typed-array index (the same walk as the package's, see PlacementRing), by node index.
  const nodeOfOrdinal = Int32Array.from(ring.ordinalIds, (id) => state.model.nodeIndex.get(id) ?? -1)
  const rf = Math.min(state.model.rf, receivers.length)
  let skipped = 0
  const shardCount = state.placement.shardCount
  for (let s = 0; s < shardCount; s++) {
    if (state.placement.shardFrozen[s]) continue
    const wanted = ring.replicaOrdinals(state.placement.shardId[s]!, rf).map((k) => nodeOfOrdinal[k]!)
    const adds = wanted.filter((node) => !state.holds(s, node))
    if (adds.length === 0) continue
    const drops = state.placement.slotsOf(s).filter((slot) => !wanted.includes(state.placement.slotNode[slot]!) && state.movable(slot))
    for (const to of adds) {
      // Same zone first keeps the spread intact at every step.
      const ordered = [...drops].sort((a, b) => Number(state.model.nodeZone[state.placement.slotNode[b]!] === state.model.nodeZone[to]) - Number(state.model.nodeZone[state.placement.slotNode[a]!] === state.model.nodeZone[to]))
      const slot = ordered.find((x) => state.blockReason(x, to) === undefined)
      if (slot === undefined) {
        skipped++
        continue
      }
      if (!log.fits(state.slotBytes(slot))) return {skipped}
      const from = state.placement.slotNode[slot]!
      log.move(slot, to, {kind: 'ring', detail: `the consistent-hash ring places shard ${state.placement.shardId[s]} on node ${state.model.nodeIds[to]}, not ${state.model.nodeIds[from]}`})
      drops.splice(drops.indexOf(slot), 1)
      index.update(from)
      index.update(to)
    }
  }
  return {skipped}
}
