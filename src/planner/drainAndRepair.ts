import {type Unplaceable} from '../model/plan.js'
import {RESOURCES} from '../model/resources.js'
import {type ActionLog} from './actionLog.js'
import {type ClusterState, RES} from './clusterState.js'
import {leastLoadedDestination, whyNowhere} from './destinations.js'
import {type ReceiverIndex} from './receiverIndex.js'


/**
 * REPAIR_PROBES bounds the receivers a drain or rule fix examines per zone for one replica.
 * Best fit walks the least utilised first and stops once no later node can end lower, but in
 * a large, even cluster of mixed sizes hundreds of nodes sit within one replica's load of
 * each other, and walking them all made 10,000-node drains quadratic; 256 of the least
 * utilised hold the best fit in practice (every small cluster is searched whole).
 */
const REPAIR_PROBES = 256

/**
 * DrainOutcome lists what the first goal could not do without failing the plan: replicas of
 * shards mid-move on draining nodes (the executor owns them; re-plan when the move ends), and
 * replicas that must move but fit nowhere, or whose constraints contradict each other.
 */
export interface DrainOutcome {
  deferred: {shard: number; node: string}[]
  unplaceable: Unplaceable[]
}

/**
 * drainAndRepair is the planner's first goal: empty every draining node, then fix every
 * violated placement rule (replicas on forbidden nodes, zone spread below the required
 * number of zones, pins without a replica on their node, stated capacity exceeded). Replicas
 * go largest first, each to the node that ends least utilised under every rule (best fit
 * decreasing), so these moves also start the balancing. Stops quietly when a move or byte
 * limit is hit (see `log.limitHit`).
 *
 * Never throws for one shard: a replica that must move and can go nowhere, or whose
 * constraints contradict each other (pinned to a draining node), is left in place and listed
 * in `unplaceable` with the reason, and everything else is still planned.
 */
export function drainAndRepair(state: ClusterState, log: ActionLog, index: ReceiverIndex): DrainOutcome {
  const outcome: DrainOutcome = {deferred: [], unplaceable: []}
  const reported = new Set<string>()
  /** unplaceable records a replica left in place, once (a replica may break several rules). */
  const unplaceable = (s: number | null, node: number, reason: string): void => {
    const key = `${s}@${node}`
    if (reported.has(key)) return
    reported.add(key)
    outcome.unplaceable.push({shard: s === null ? null : state.placement.shardId[s]!, node: state.model.nodeIds[node]!, reason})
  }
  /** relocate moves `slot` to its best fit; false when a limit stopped the plan. A replica that fits nowhere is recorded as unplaceable. */
  const relocate = (slot: number, reason: Parameters<ActionLog['move']>[2], accept?: (node: number) => boolean): boolean => {
    const to = leastLoadedDestination(state, index, slot, accept, REPAIR_PROBES)
    const s = state.placement.slotShard[slot]!
    if (to < 0) {
      unplaceable(s, state.placement.slotNode[slot]!, `cannot leave node ${state.model.nodeIds[state.placement.slotNode[slot]!]} (${reason.detail}): ${whyNowhere(state, slot)}; add or uncordon a node in a suitable zone, or relax the shard's constraints`)
      return true
    }
    if (!log.fits(state.slotBytes(slot))) return false
    const from = state.placement.slotNode[slot]!
    log.move(slot, to, reason)
    index.update(from)
    index.update(to)
    return true
  }

  const ctx: RepairContext = {state, log, index, relocate, unplaceable, outcome}
  for (const phase of [drainNodes, fixForbidden, fixZoneSpread, fixPins, fixCapacity]) if (!phase(ctx)) return outcome
  return outcome
}

interface RepairContext {
  state: ClusterState
  log: ActionLog
  index: ReceiverIndex
  relocate: (slot: number, reason: Parameters<ActionLog['move']>[2], accept?: (node: number) => boolean) => boolean
  unplaceable: (s: number | null, node: number, reason: string) => void
  outcome: DrainOutcome
}

function largestFirst(state: ClusterState, slots: number[]): number[] {
  return slots.sort((a, b) => state.slotUnits(b) - state.slotUnits(a) || a - b)
}

/** drainNodes empties every draining node, biggest replicas first, while the emptiest nodes have the most room. Returns false when a move or byte limit stopped the plan. */
function drainNodes(ctx: RepairContext): boolean {
  const {state, relocate, unplaceable, outcome} = ctx
  // Drains: biggest replicas first, while the emptiest nodes have the most room.
  for (let node = 0; node < state.model.nodeCount; node++) {
    if (state.model.nodeState[node] !== 'draining') continue
    for (const slot of largestFirst(state, [...state.placement.nodeSlots[node]!])) {
      const s = state.placement.slotShard[slot]!
      if (state.placement.shardFrozen[s]) {
        outcome.deferred.push({shard: state.placement.shardId[s]!, node: state.model.nodeIds[node]!})
        continue
      }
      if (state.isPinned(slot)) {
        unplaceable(s, node, `is pinned to node ${state.model.nodeIds[node]}, which is draining; remove the pin, or stop draining the node`)
        continue
      }
      if (!relocate(slot, {kind: 'drain', detail: `node ${state.model.nodeIds[node]} is draining`})) return false
    }
  }

  return true
}

/** fixForbidden moves replicas off nodes a constraint forbids them, largest first. Returns false when a move or byte limit stopped the plan. */
function fixForbidden(ctx: RepairContext): boolean {
  const {state, relocate, unplaceable} = ctx
  // Forbidden placements, largest first.
  const forbidden: number[] = []
  for (let slot = 0; state.placement.hasForbids && slot < state.placement.slotCount; slot++) {
    const s = state.placement.slotShard[slot]!
    if (!state.placement.shardFrozen[s] && state.placement.isForbidden(s, state.placement.slotNode[slot]!)) forbidden.push(slot)
  }
  for (const slot of largestFirst(state, forbidden)) {
    const s = state.placement.slotShard[slot]!
    const node = state.placement.slotNode[slot]!
    if (state.isPinned(slot)) {
      unplaceable(s, node, `is both pinned to and forbidden on node ${state.model.nodeIds[node]}; remove one of the two constraints`)
      continue
    }
    if (!relocate(slot, {kind: 'constraint', detail: `shard ${state.placement.shardId[s]} is forbidden on node ${state.model.nodeIds[node]}`})) return false
  }

  return true
}

/** fixZoneSpread brings every shard up to the required number of zones. Returns false when a move or byte limit stopped the plan. */
function fixZoneSpread(ctx: RepairContext): boolean {
  const {state, log, index, unplaceable} = ctx
  // Zone spread: move a replica out of a zone that holds two, into a zone that holds none.
  for (let s = 0; s < state.placement.shardCount; s++) {
    if (state.placement.shardFrozen[s]) continue
    spread: while (state.zoneCount(s) < state.model.requiredZones) {
      const before = state.zoneCount(s)
      const zones = state.placement.slotsOf(s).map((slot) => state.model.nodeZone[state.placement.slotNode[slot]!]!)
      const candidates = state.placement.slotsOf(s).filter((slot, i) => state.movable(slot) && zones.indexOf(zones[i]!) !== zones.lastIndexOf(zones[i]!))
      let moved = false
      for (const slot of candidates) {
        const to = leastLoadedDestination(state, index, slot, (node) => state.zoneCount(s, slot, state.model.nodeZone[node]!) > before, REPAIR_PROBES)
        if (to < 0) continue
        if (!log.fits(state.slotBytes(slot))) return false
        const from = state.placement.slotNode[slot]!
        log.move(slot, to, {kind: 'constraint', detail: `shard ${state.placement.shardId[s]} had ${before} zone${before === 1 ? '' : 's'} for ${state.model.requiredZones} required`})
        index.update(from)
        index.update(to)
        moved = true
        break
      }
      if (!moved) {
        unplaceable(s, state.placement.slotNode[state.placement.slotsOf(s)[0]!]!, `spans ${before} zone${before === 1 ? '' : 's'} but needs ${state.model.requiredZones}, and no replica can move to a missing zone; add or uncordon a node in a missing zone, or relax the shard's pins and forbids`)
        break spread
      }
    }
  }

  return true
}

/** fixPins gives every pinned node a replica of its shard. Returns false when a move or byte limit stopped the plan. */
function fixPins(ctx: RepairContext): boolean {
  const {state, log, index, unplaceable} = ctx
  // Pins: the pinned node must hold a replica; bring over the one whose move keeps the rules.
  for (const pin of state.placement.pins) {
    const {shard: s, node} = pin
    if (state.placement.shardFrozen[s] || state.holds(s, node)) continue
    if (!state.model.receiver[node]) {
      unplaceable(s, node, `is pinned to node ${state.model.nodeIds[node]}, which holds no replica of it and is ${state.model.alive[node] ? state.model.nodeState[node] : 'down'}; remove the pin, or make the node active`)
      continue
    }
    const candidates = state.placement.slotsOf(s).filter((slot) => state.movable(slot) && state.blockReason(slot, node) === undefined)
    // Same zone first (keeps the spread trivially), then the busiest source.
    candidates.sort((a, b) => Number(state.model.nodeZone[state.placement.slotNode[b]!] === state.model.nodeZone[node]) - Number(state.model.nodeZone[state.placement.slotNode[a]!] === state.model.nodeZone[node]) || state.placement.util[state.placement.slotNode[b]!]! - state.placement.util[state.placement.slotNode[a]!]! || a - b)
    const slot = candidates[0]
    if (slot === undefined) {
      unplaceable(s, node, `is pinned to node ${state.model.nodeIds[node]}, but none of its replicas can move there without breaking another rule; check the shard's other pins, zones and the node's capacity`)
      continue
    }
    if (!log.fits(state.slotBytes(slot))) return false
    const from = state.placement.slotNode[slot]!
    log.move(slot, node, {kind: 'constraint', detail: `shard ${state.placement.shardId[s]} is pinned to node ${state.model.nodeIds[node]}`})
    index.update(from)
    index.update(node)
  }

  return true
}

/** fixCapacity sheds replicas from nodes over a stated capacity. Returns false when a move or byte limit stopped the plan. */
function fixCapacity(ctx: RepairContext): boolean {
  const {state, index, relocate, unplaceable} = ctx
  // Stated capacities: shed the replicas that carry most of the exceeded resource.
  for (let node = 0; node < state.model.nodeCount; node++) {
    capacity: while (state.overCapacity(node)) {
      let r = 0
      for (let k = 0; k < RES; k++) {
        const over = state.placement.nodeLoadAt(node, k) - state.capLimitAt(node, k)
        if (over > state.placement.nodeLoadAt(node, r) - state.capLimitAt(node, r)) r = k
      }
      const slots = state.placement.nodeSlots[node]!.filter((slot) => state.movable(slot))
      slots.sort((a, b) => state.placement.slotLoadAt(b, r) - state.placement.slotLoadAt(a, r) || a - b)
      const slot = slots.find((x) => state.placement.slotLoadAt(x, r) > 0 && leastLoadedDestination(state, index, x, undefined, REPAIR_PROBES) >= 0)
      const limit = state.capLimitAt(node, r)
      const load = state.placement.nodeLoadAt(node, r)
      if (slot === undefined) {
        unplaceable(null, node, `node ${state.model.nodeIds[node]} is over its ${RESOURCES[r]} capacity (${fmt(load)} > ${fmt(limit)}) and none of its replicas can move elsewhere; raise the capacity, or add nodes`)
        break capacity
      }
      if (!relocate(slot, {kind: 'constraint', resource: RESOURCES[r], detail: `node ${state.model.nodeIds[node]} is over its ${RESOURCES[r]} capacity (${fmt(load)} > ${fmt(limit)})`})) return false
    }
  }
  return true
}

function fmt(v: number): string {
  return Number.isInteger(v) ? String(v) : v.toFixed(1)
}
