import {type BlockReason, type ClusterState} from './clusterState.js'
import {type ReceiverIndex} from './receiverIndex.js'

/** ZONED_WALK_LIMIT: with more zones than this, walking each zone's list costs more than one global walk. */
const ZONED_WALK_LIMIT = 32

/**
 * leastLoadedDestination returns a node that may take slot `slot` under every placement
 * rule and passes `accept`, choosing the one whose utilisation after the move is lowest
 * (best fit: with mixed capacities an empty small node can end busier than a half-full big
 * one), among the zones the zone spread allows; -1 when none fits. Ties go to the node
 * first in the index (less utilised, then lower index). It probes at most `maxProbes` nodes
 * per zone (all when omitted) and stops a zone's walk as soon as no later node can end lower,
 * so a balance step stays O(zones * probes * rf) rather than O(nodes), and with equal
 * capacities it stops at the first node that fits.
 */
export function leastLoadedDestination(state: ClusterState, index: ReceiverIndex, slot: number, accept?: (node: number) => boolean, maxProbes = Infinity): number {
  const floorDelta = state.minUtilDelta(slot)
  if (index.zoneCount > ZONED_WALK_LIMIT) return bestFit(state, index.nodes, slot, accept, maxProbes, floorDelta, {node: -1, after: Infinity}).node
  const s = state.placement.slotShard[slot]!
  const need = Math.min(state.zoneCount(s), state.model.requiredZones)
  const best = {node: -1, after: Infinity}
  for (let z = 0; z < index.zoneCount; z++) {
    if (state.zoneCount(s, slot, z) < need) continue
    bestFit(state, index.inZone(z), slot, accept, maxProbes, floorDelta, best)
  }
  return best.node
}

/** bestFit walks `nodes` (least utilised first) and improves `best` with the fitting node whose utilisation after taking `slot` is lowest. */
function bestFit(state: ClusterState, nodes: readonly number[], slot: number, accept: ((node: number) => boolean) | undefined, maxProbes: number, floorDelta: number, best: {node: number; after: number}): {node: number; after: number} {
  const limit = Math.min(nodes.length, maxProbes)
  for (let i = 0; i < limit; i++) {
    const node = nodes[i]!
    // Later nodes are at least this utilised and gain at least floorDelta: none can beat best.
    if (state.placement.util[node]! + floorDelta >= best.after) break
    if (accept && !accept(node)) continue
    if (state.blockReason(slot, node) !== undefined) continue
    const after = state.placement.util[node]! + state.utilDelta(slot, node)
    if (after < best.after || (after === best.after && node < best.node)) {
      best.after = after
      best.node = node
    }
  }
  return best
}

const REASON_TEXT: Record<BlockReason, string> = {
  self: 'hold it',
  'cannot-receive': 'cordoned, draining or down',
  'holds-replica': 'holding a replica already',
  forbidden: 'forbidden by a constraint',
  zone: 'in a zone that would break the spread',
  capacity: 'without capacity left',
}

/**
 * whyNowhere explains why slot `slot` can go to no node: how many nodes each placement
 * rule excluded, largest first, e.g. `of 6 other nodes: 4 holding a replica already, 2
 * cordoned, draining or down`. Used in the error that names a shard that can go nowhere.
 */
export function whyNowhere(state: ClusterState, slot: number): string {
  const tally = new Map<BlockReason, number>()
  for (let node = 0; node < state.model.nodeCount; node++) {
    const reason = state.blockReason(slot, node)
    if (reason && reason !== 'self') tally.set(reason, (tally.get(reason) ?? 0) + 1)
  }
  const parts = [...tally.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).map(([reason, count]) => `${count} ${REASON_TEXT[reason]}`)
  return parts.length > 0 ? `of ${state.model.nodeCount - 1} other nodes: ${parts.join(', ')}` : 'there is no other node'
}
