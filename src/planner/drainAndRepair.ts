import {UserError} from '../errors/errors.js'
import {RESOURCES} from '../model/resources.js'
import {type ActionLog} from './actionLog.js'
import {type ClusterState, LOAD_WIDTH, RES} from './clusterState.js'
import {leastLoadedDestination, whyNowhere} from './destinations.js'
import {type ReceiverIndex} from './receiverIndex.js'

/**
 * DrainOutcome lists what the first goal could not do without failing the plan: replicas of
 * shards mid-move on draining nodes (the executor owns them; re-plan when the move ends).
 */
export interface DrainOutcome {
  deferred: {shard: number; node: string}[]
}

/**
 * drainAndRepair is the planner's first goal: empty every draining node, then fix every
 * violated placement rule (replicas on forbidden nodes, zone spread below the required
 * number of zones, pins without a replica on their node, stated capacity exceeded). Each
 * replica goes to the least-utilised node that keeps every rule, so these moves also start
 * the balancing. Stops quietly when a move or byte limit is hit (see `log.limitHit`).
 *
 * Throws UserError UNREACHABLE_TARGET naming the shard when a replica that must move can go
 * nowhere, or when constraints contradict each other (pinned to a draining node).
 */
export function drainAndRepair(state: ClusterState, log: ActionLog, index: ReceiverIndex): DrainOutcome {
  const outcome: DrainOutcome = {deferred: []}
  const relocate = (slot: number, reason: Parameters<ActionLog['move']>[2], accept?: (node: number) => boolean): boolean => {
    const to = leastLoadedDestination(state, index, slot, accept)
    const s = state.slotShard[slot]!
    if (to < 0) {
      throw new UserError(
        'UNREACHABLE_TARGET',
        `shard ${state.shardId[s]} cannot leave node ${state.nodeIds[state.slotNode[slot]!]} (${reason.detail}): ${whyNowhere(state, slot)}`,
        'add or uncordon a node in a suitable zone, or relax the shard\'s constraints',
      )
    }
    if (!log.fits(state.slotBytes(slot))) return false
    const from = state.slotNode[slot]!
    log.move(slot, to, reason)
    index.update(from)
    index.update(to)
    return true
  }

  // Drains: biggest replicas first, while the emptiest nodes have the most room.
  for (let node = 0; node < state.nodeCount; node++) {
    if (state.nodeState[node] !== 'draining') continue
    const slots = [...state.nodeSlots[node]!].sort((a, b) => state.slotUnits(b) - state.slotUnits(a) || a - b)
    for (const slot of slots) {
      const s = state.slotShard[slot]!
      if (state.shardFrozen[s]) {
        outcome.deferred.push({shard: state.shardId[s]!, node: state.nodeIds[node]!})
        continue
      }
      if (state.isPinned(slot)) {
        throw new UserError('UNREACHABLE_TARGET', `shard ${state.shardId[s]} is pinned to node ${state.nodeIds[node]}, which is draining`, 'remove the pin, or stop draining the node')
      }
      if (!relocate(slot, {kind: 'drain', detail: `node ${state.nodeIds[node]} is draining`})) return outcome
    }
  }

  // Forbidden placements.
  for (let slot = 0; state.hasForbids && slot < state.slotShard.length; slot++) {
    const s = state.slotShard[slot]!
    const node = state.slotNode[slot]!
    if (state.shardFrozen[s] || !state.isForbidden(s, node)) continue
    if (state.isPinned(slot)) {
      throw new UserError('UNREACHABLE_TARGET', `shard ${state.shardId[s]} is both pinned to and forbidden on node ${state.nodeIds[node]}`, 'remove one of the two constraints')
    }
    if (!relocate(slot, {kind: 'constraint', detail: `shard ${state.shardId[s]} is forbidden on node ${state.nodeIds[node]}`})) return outcome
  }

  // Zone spread: move a replica out of a zone that holds two, into a zone that holds none.
  for (let s = 0; s < state.shardId.length; s++) {
    if (state.shardFrozen[s]) continue
    while (state.zoneCount(s) < state.requiredZones) {
      const before = state.zoneCount(s)
      const zones = state.shardSlots[s]!.map((slot) => state.nodeZone[state.slotNode[slot]!]!)
      const candidates = state.shardSlots[s]!.filter((slot, i) => state.movable(slot) && zones.indexOf(zones[i]!) !== zones.lastIndexOf(zones[i]!))
      let moved = false
      for (const slot of candidates) {
        const to = leastLoadedDestination(state, index, slot, (node) => state.zoneCount(s, slot, state.nodeZone[node]!) > before)
        if (to < 0) continue
        if (!log.fits(state.slotBytes(slot))) return outcome
        const from = state.slotNode[slot]!
        log.move(slot, to, {kind: 'constraint', detail: `shard ${state.shardId[s]} had ${before} zone${before === 1 ? '' : 's'} for ${state.requiredZones} required`})
        index.update(from)
        index.update(to)
        moved = true
        break
      }
      if (!moved) {
        throw new UserError(
          'UNREACHABLE_TARGET',
          `shard ${state.shardId[s]} spans ${before} zone${before === 1 ? '' : 's'} but needs ${state.requiredZones}, and no replica can move to a missing zone`,
          'add or uncordon a node in a missing zone, or relax the shard\'s pins and forbids',
        )
      }
    }
  }

  // Pins: the pinned node must hold a replica; bring over the one whose move keeps the rules.
  for (const pin of state.pins) {
    const {shard: s, node} = pin
    if (state.shardFrozen[s] || state.holds(s, node)) continue
    if (!state.receiver[node]) {
      throw new UserError('UNREACHABLE_TARGET', `shard ${state.shardId[s]} is pinned to node ${state.nodeIds[node]}, which holds no replica of it and is ${state.alive[node] ? state.nodeState[node] : 'down'}`, 'remove the pin, or make the node active')
    }
    const candidates = state.shardSlots[s]!.filter((slot) => state.movable(slot) && state.blockReason(slot, node) === undefined)
    // Same zone first (keeps the spread trivially), then the busiest source.
    candidates.sort((a, b) => Number(state.nodeZone[state.slotNode[b]!] === state.nodeZone[node]) - Number(state.nodeZone[state.slotNode[a]!] === state.nodeZone[node]) || state.util[state.slotNode[b]!]! - state.util[state.slotNode[a]!]! || a - b)
    const slot = candidates[0]
    if (slot === undefined) {
      throw new UserError('UNREACHABLE_TARGET', `shard ${state.shardId[s]} is pinned to node ${state.nodeIds[node]}, but none of its replicas can move there without breaking another rule`, 'check the shard\'s other pins, zones and the node\'s capacity')
    }
    if (!log.fits(state.slotBytes(slot))) return outcome
    const from = state.slotNode[slot]!
    log.move(slot, node, {kind: 'constraint', detail: `shard ${state.shardId[s]} is pinned to node ${state.nodeIds[node]}`})
    index.update(from)
    index.update(node)
  }

  // Stated capacities: shed the replicas that carry most of the exceeded resource.
  for (let node = 0; node < state.nodeCount; node++) {
    while (state.overCapacity(node)) {
      let r = 0
      for (let k = 0; k < RES; k++) {
        const over = state.nodeLoad[node * LOAD_WIDTH + k]! - state.capLimit[node * RES + k]!
        if (over > state.nodeLoad[node * LOAD_WIDTH + r]! - state.capLimit[node * RES + r]!) r = k
      }
      const slots = state.nodeSlots[node]!.filter((slot) => state.movable(slot))
      slots.sort((a, b) => state.slotLoad[b * LOAD_WIDTH + r]! - state.slotLoad[a * LOAD_WIDTH + r]! || a - b)
      const slot = slots.find((x) => state.slotLoad[x * LOAD_WIDTH + r]! > 0 && leastLoadedDestination(state, index, x) >= 0)
      const limit = state.capLimit[node * RES + r]!
      const load = state.nodeLoad[node * LOAD_WIDTH + r]!
      if (slot === undefined) {
        throw new UserError('UNREACHABLE_TARGET', `node ${state.nodeIds[node]} is over its ${RESOURCES[r]} capacity (${fmt(load)} > ${fmt(limit)}) and none of its replicas can move elsewhere`, 'raise the capacity, or add nodes')
      }
      if (!relocate(slot, {kind: 'constraint', resource: RESOURCES[r], detail: `node ${state.nodeIds[node]} is over its ${RESOURCES[r]} capacity (${fmt(load)} > ${fmt(limit)})`})) return outcome
    }
  }
  return outcome
}

function fmt(v: number): string {
  return Number.isInteger(v) ? String(v) : v.toFixed(1)
}
