import {type StopReason} from '../model/plan.js'
import {type ActionLog} from './actionLog.js'
import {type ClusterState} from './clusterState.js'
import {leastLoadedDestination} from './destinations.js'
import {type ReceiverIndex} from './receiverIndex.js'

/** MAX_PROBES bounds how many receivers a push examines per replica; the front of the index is where the room is. */
const MAX_PROBES = 64
/** PULL_SOURCES: an underloaded node pulls from the replicas of this many of the busiest nodes. */
const PULL_SOURCES = 8

/** BalanceOutcome says why balancing stopped and which over-target nodes it could not relieve. */
export interface BalanceOutcome {
  stop: Extract<StopReason, 'within-target' | 'no-improvement' | 'max-moves' | 'max-bytes'>
  /** stuck: nodes still outside the target band when balancing stopped, worst first. */
  stuck: number[]
}

interface Candidate {
  slot: number
  to: number
  gain: number
  efficiency: number
  score: number
}

/**
 * balance is the planner's second goal: move replicas until every pool node's utilisation
 * is within [2 - target, target] (the band around the mean of 1), moving as little data as
 * possible. Each step takes the node furthest outside the band (in average-node units) and
 * picks, among its replicas (or, for an underloaded node, the busiest nodes' replicas), the
 * move with the best load-outside-band removed per byte copied, so a hot, small shard beats a
 * cold, big one. A move must remove at least `minImprovement` (a fraction) of that node's load
 * outside the band, and never leave its target busier than its source was, which makes the
 * loop terminate and keeps it from shuffling load back and forth. Replicas of shards in
 * `skipShards` (hot shards) are never moved and nodes in `skipNodes` never balanced.
 */
export function balance(state: ClusterState, log: ActionLog, index: ReceiverIndex, minImprovement: number, skipShards: ReadonlySet<number>, skipNodes: ReadonlySet<number>): BalanceOutcome {
  const n = state.nodeCount
  const stuck = new Uint8Array(n)
  for (const node of skipNodes) stuck[node] = 1
  const bytesFloor = byteFloor(state)

  for (;;) {
    let worst = -1
    let worstOut = 0
    for (let i = 0; i < n; i++) {
      if (stuck[i]) continue
      const o = state.outside(i)
      if (o > worstOut) {
        worstOut = o
        worst = i
      }
    }
    if (worst < 0) break
    const gainFloor = Math.max(minImprovement * worstOut, 1e-12)
    const push = state.util[worst]! > state.target
    // Rank every candidate once, then take them in order while they still help: each is
    // re-checked against the current state (destinations fill up, the excess shrinks), so
    // one ranking serves many moves instead of one.
    const candidates = push ? pushCandidates(worst, gainFloor) : pullCandidates(worst, gainFloor)
    candidates.sort((a, b) => (isBetter(a, b) ? -1 : isBetter(b, a) ? 1 : 0))
    let moved = 0
    for (const c of candidates) {
      if (state.outside(worst) <= 0) break
      const from = state.slotNode[c.slot]!
      const to = push ? leastLoadedDestination(state, index, c.slot, undefined, MAX_PROBES) : state.blockReason(c.slot, worst) === undefined ? worst : -1
      if (to < 0) continue
      const fresh = evaluate(c.slot, from, to, Math.max(minImprovement * state.outside(worst), 1e-12))
      // The best candidate may be a wasteful one when nothing better exists; later ones must be efficient.
      if (!fresh || (moved > 0 && fresh.efficiency <= 0)) continue
      if (!log.fits(state.slotBytes(c.slot))) return {stop: log.limitHit!, stuck: remaining()}
      apply(fresh, push)
      moved++
    }
    if (moved === 0) stuck[worst] = 1
  }
  const left = remaining()
  return {stop: left.length > 0 ? 'no-improvement' : 'within-target', stuck: left}

  function apply(c: Candidate, push: boolean): void {
    const from = state.slotNode[c.slot]!
    const resource = state.dominantResource(c.slot, from)
    const detail = push
      ? `node ${state.nodeIds[from]} is at ${state.util[from]!.toFixed(2)}x the mean (target ${state.target}); this replica carries ${resource} load`
      : `node ${state.nodeIds[c.to]} is at ${state.util[c.to]!.toFixed(2)}x the mean (floor ${state.floor.toFixed(2)}); this replica carries ${resource} load`
    log.move(c.slot, c.to, {kind: 'balance', resource, detail})
    index.update(from)
    index.update(c.to)
  }

  function remaining(): number[] {
    const out: number[] = []
    for (let i = 0; i < n; i++) if (state.outside(i) > 0) out.push(i)
    return out.sort((a, b) => state.outside(b) - state.outside(a) || a - b)
  }

  function evaluate(slot: number, from: number, to: number, gainFloor: number): Candidate | undefined {
    const a = state.utilDelta(slot, from)
    const b = state.utilDelta(slot, to)
    const uFrom = state.util[from]!
    const uTo = state.util[to]!
    if (a <= 0 || uTo + b >= uFrom) return undefined
    const gain = state.outside(from) + state.outside(to) - state.outsideAt(from, uFrom - a) - state.outsideAt(to, uTo + b)
    if (gain < gainFloor) return undefined
    const units = state.slotUnits(slot)
    // Efficiency > 0 when at least half the load moved counts against the imbalance; such
    // moves rank by gain per byte, the rest only by how little they waste.
    const efficiency = 2 * gain - units
    const score = efficiency > 0 ? efficiency / (state.slotBytes(slot) + bytesFloor) : efficiency
    return {slot, to, gain, efficiency, score}
  }

  function pushCandidates(src: number, gainFloor: number): Candidate[] {
    const out: Candidate[] = []
    for (const slot of state.nodeSlots[src]!) {
      if (!state.movable(slot) || skipShards.has(state.slotShard[slot]!)) continue
      const to = leastLoadedDestination(state, index, slot, undefined, MAX_PROBES)
      const c = to >= 0 ? evaluate(slot, src, to, gainFloor) : undefined
      if (c) out.push(c)
    }
    return out
  }

  function pullCandidates(dst: number, gainFloor: number): Candidate[] {
    const sources: number[] = []
    for (let i = 0; i < n; i++) {
      if (!state.inPool[i] || i === dst || state.util[i]! <= state.util[dst]!) continue
      sources.push(i)
      if (sources.length > PULL_SOURCES) {
        sources.sort((x, y) => state.util[y]! - state.util[x]! || x - y)
        sources.pop()
      }
    }
    const out: Candidate[] = []
    for (const src of sources) {
      for (const slot of state.nodeSlots[src]!) {
        if (!state.movable(slot) || skipShards.has(state.slotShard[slot]!)) continue
        const c = state.blockReason(slot, dst) === undefined ? evaluate(slot, src, dst, gainFloor) : undefined
        if (c) out.push(c)
      }
    }
    return out
  }
}

/** isBetter ranks candidates: efficient ones (efficiency > 0) first, then by score, then by slot for determinism. */
function isBetter(c: Candidate, best: Candidate | undefined): boolean {
  if (!best) return true
  if (c.efficiency > 0 !== best.efficiency > 0) return c.efficiency > 0
  if (c.score !== best.score) return c.score > best.score
  return c.slot < best.slot
}

/** byteFloor keeps gain-per-byte finite for empty replicas: 1% of the mean replica size, at least 1 byte. */
function byteFloor(state: ClusterState): number {
  const slots = state.slotShard.length
  return slots > 0 ? Math.max(1, (state.totals[2]! / slots) * 0.01) : 1
}
