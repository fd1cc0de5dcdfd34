import {type BlockReason, type ClusterState} from './clusterState.js'
import {type ReceiverIndex} from './receiverIndex.js'

/** ZONED_WALK_LIMIT: with more zones than this, walking each zone's list costs more than one global walk. */
const ZONED_WALK_LIMIT = 32

/**
 * leastLoadedDestination returns a node that may take slot `slot` under every placement
 * rule and passes `accept`, choosing the one whose utilisation after the move is lowest
 * among the first fitting node of each zone the zone spread allows; -1 when none fits. It
 * probes at most `maxProbes` nodes per zone (all when omitted), so a balance step stays
 * O(zones * probes * rf) rather than O(nodes).
 */
export function leastLoadedDestination(state: ClusterState, index: ReceiverIndex, slot: number, accept?: (node: number) => boolean, maxProbes = Infinity): number {
  if (index.zoneCount > ZONED_WALK_LIMIT) return firstFit(state, index.nodes, slot, accept, maxProbes)
  const s = state.slotShard[slot]!
  const need = Math.min(state.zoneCount(s), state.requiredZones)
  let best = -1
  let bestUtil = Infinity
  for (let z = 0; z < index.zoneCount; z++) {
    if (state.zoneCount(s, slot, z) < need) continue
    const node = firstFit(state, index.inZone(z), slot, accept, maxProbes)
    if (node < 0) continue
    const u = state.util[node]! + state.utilDelta(slot, node)
    if (u < bestUtil) {
      bestUtil = u
      best = node
    }
  }
  return best
}

function firstFit(state: ClusterState, nodes: readonly number[], slot: number, accept: ((node: number) => boolean) | undefined, maxProbes: number): number {
  const limit = Math.min(nodes.length, maxProbes)
  for (let i = 0; i < limit; i++) {
    const node = nodes[i]!
    if (accept && !accept(node)) continue
    if (state.blockReason(slot, node) === undefined) return node
  }
  return -1
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
  for (let node = 0; node < state.nodeCount; node++) {
    const reason = state.blockReason(slot, node)
    if (reason && reason !== 'self') tally.set(reason, (tally.get(reason) ?? 0) + 1)
  }
  const parts = [...tally.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).map(([reason, count]) => `${count} ${REASON_TEXT[reason]}`)
  return parts.length > 0 ? `of ${state.nodeCount - 1} other nodes: ${parts.join(', ')}` : 'there is no other node'
}
