import {type StopReason} from '../model/plan.js'
import {type ActionLog} from './actionLog.js'
import {type ClusterState} from './clusterState.js'
import {leastLoadedDestination} from './destinations.js'
import {type ReceiverIndex} from './receiverIndex.js'

/** MAX_PROBES bounds how many receivers a push examines per replica and zone; the front of the index is where the room is. */
const MAX_PROBES = 64
/** PULL_SOURCES: an underloaded node pulls from the replicas of this many of the busiest nodes of each zone. */
const PULL_SOURCES = 8
/** SWAP_PARTNERS: a stuck node tries swaps with this many of the least utilised receivers. */
const SWAP_PARTNERS = 8
/** SWAP_BUDGET bounds the replica pairs one swap search examines, so a stuck node in a big cluster stays cheap. */
const SWAP_BUDGET = 200_000
/** SCORE_TIE: scores this close (relatively) are equal, and the move that does more at once wins (fewer moves). */
const SCORE_TIE = 1e-9

/** BalanceOutcome says why balancing stopped and which over-target nodes it could not relieve. */
export interface BalanceOutcome {
  stop: Extract<StopReason, 'within-target' | 'no-improvement' | 'max-moves' | 'max-bytes'>
  /** stuck: nodes still outside the target band when balancing stopped, worst first. */
  stuck: number[]
}

interface Candidate {
  slot: number
  from: number
  to: number
  /** gain: load outside the band this move removes (average-node units; negative when it adds some). */
  gain: number
  /** lex: how much the move lowers the busier of its two nodes (push) or raises the emptier (pull), in utilisation. */
  lex: number
  efficiency: number
  score: number
}

/**
 * averageReplicaUnits is the load of an average replica in average-node units: the pool's
 * total load (one unit per pool node) over the replicas. The scale of `minImprovement`.
 */
export function averageReplicaUnits(state: ClusterState): number {
  const slots = state.slotShard.length
  return slots > 0 ? state.poolSize / slots : 0
}

/**
 * balance is the planner's second goal. Its objective is lexicographic: lower the most
 * utilised node, then the next most utilised, and so on, stopping once every pool node is
 * within the band [2 - target, target] around the mean of 1. Every move keeps every
 * placement rule and ends with its destination below where its source was (uTo + b < uFrom),
 * so the sorted vector of utilisations strictly decreases and balancing terminates.
 *
 * Each step takes the node furthest outside the band (in average-node units). First it looks
 * for moves that take load out of the band (from it, or, for an underloaded node, into it
 * from the busiest nodes of each zone), ranked by load removed per byte copied (so a hot,
 * small shard beats a cold, big one; at equal score the bigger step wins: one move rather than
 * three). When none does, it makes the moves that best lower it (or raise it) toward its
 * peers even though the band stays out of reach: a destination may then end above the band,
 * as long as it ends below where the source was.
 *
 * Anti-churn is scale-free: a move must remove at least `minImprovement` times an average
 * replica's load from outside the band, or lower the busier node (raise the emptier) by that
 * much in utilisation; the threshold is relative to a replica, never to a node, so clusters of
 * many small shards balance as well as clusters of few big ones. Replicas of shards in
 * `skipShards` (hot shards) are never moved and nodes in `skipNodes` never balanced.
 */
export function balance(state: ClusterState, log: ActionLog, index: ReceiverIndex, minImprovement: number, skipShards: ReadonlySet<number>, skipNodes: ReadonlySet<number>): BalanceOutcome {
  const n = state.nodeCount
  const stuck = new Uint8Array(n)
  for (const node of skipNodes) stuck[node] = 1
  const bytesFloor = byteFloor(state)
  const minStep = Math.max(minImprovement * averageReplicaUnits(state), 1e-12)

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
    const push = state.util[worst]! > state.target
    // Rank every candidate once, then take them in order while they still help: each is
    // re-checked against the current state (destinations fill up, the excess shrinks), so
    // one ranking serves many moves instead of one.
    const candidates = push ? pushCandidates(worst) : pullCandidates(worst)
    const towardBand = candidates.filter((c) => c.gain >= minStep)
    towardBand.sort((a, b) => (isBetter(a, b) ? -1 : isBetter(b, a) ? 1 : 0))
    let moved = 0
    for (const c of towardBand) {
      if (state.outside(worst) <= 0) break
      const fresh = recheck(c, push, worst)
      // The best candidate may be a wasteful one when nothing better exists; later ones must be efficient.
      if (!fresh || fresh.gain < minStep || (moved > 0 && fresh.efficiency <= 0)) continue
      if (!log.fits(state.slotBytes(c.slot))) return {stop: log.limitHit!, stuck: remaining()}
      apply(fresh, push)
      moved++
    }
    if (moved === 0) {
      // Nothing takes load out of the band: even the node out with its peers (lexicographic).
      candidates.sort((a, b) => b.lex - a.lex || state.slotBytes(a.slot) - state.slotBytes(b.slot) || a.slot - b.slot)
      for (const c of candidates) {
        if (state.outside(worst) <= 0) break
        const fresh = recheck(c, push, worst)
        if (!fresh || fresh.lex < minStep) continue
        if (!log.fits(state.slotBytes(c.slot))) return {stop: log.limitHit!, stuck: remaining()}
        apply(fresh, push)
        moved++
      }
    }
    if (moved === 0 && push) {
      // No single move helps: exchange a replica of the worst node with a smaller one elsewhere.
      const swapped = swap(worst)
      if (swapped === 'limit') return {stop: log.limitHit!, stuck: remaining()}
      if (swapped) moved++
    }
    if (moved === 0) stuck[worst] = 1
  }
  const left = remaining()
  return {stop: left.length > 0 ? 'no-improvement' : 'within-target', stuck: left}

  /**
   * swap finds the exchange of a replica x on `w` with a less loaded replica y on a lightly
   * used receiver v that lowers the busier of the two nodes the most (at least by minStep),
   * and applies it as two moves (x to v, then y to w), each keeping every rule when made.
   * Returns true when it swapped, 'limit' when a move or byte limit stopped it.
   */
  function swap(w: number): boolean | 'limit' {
    if (!state.receiver[w]) return false
    const uW = state.util[w]!
    let best: {x: number; y: number; v: number; lex: number; bytes: number} | undefined
    let budget = SWAP_BUDGET
    const partners = index.nodes.slice(0, SWAP_PARTNERS).filter((v) => v !== w && state.inPool[v])
    for (const x of state.nodeSlots[w]!) {
      if (!state.movable(x)) continue
      const sx = state.slotShard[x]!
      for (const v of partners) {
        if (state.blockReason(x, v) !== undefined) continue
        const uV = state.util[v]!
        for (const y of state.nodeSlots[v]!) {
          if (--budget < 0) break
          const sy = state.slotShard[y]!
          if (sy === sx || !state.movable(y) || state.holds(sy, w)) continue
          const afterW = uW - state.utilDelta(x, w) + state.utilDelta(y, w)
          const afterV = uV - state.utilDelta(y, v) + state.utilDelta(x, v)
          const lex = uW - Math.max(afterW, afterV)
          if (lex < minStep) continue
          const bytes = state.slotBytes(x) + state.slotBytes(y)
          if (best && !(lex > best.lex + 1e-12 || (Math.abs(lex - best.lex) <= 1e-12 && bytes < best.bytes))) continue
          // Checked with x still on w: if y fits now, it fits once x has left (w only gets room).
          if (state.blockReason(y, w) === undefined) best = {x, y, v, lex, bytes}
        }
      }
    }
    if (!best) return false
    const {x, y, v} = best
    if (!log.fits(state.slotBytes(x))) return 'limit'
    const resource = state.dominantResource(x, w)
    log.move(x, v, {kind: 'balance', resource, detail: `node ${state.nodeIds[w]} is at ${uW.toFixed(2)}x the mean (target ${state.target}) and no single move lowers it: swapped with shard ${state.shardId[state.slotShard[y]!]} on ${state.nodeIds[v]}`})
    index.update(w)
    index.update(v)
    if (!log.fits(state.slotBytes(y))) return 'limit'
    log.move(y, w, {kind: 'balance', resource: state.dominantResource(y, v), detail: `second half of a swap with shard ${state.shardId[state.slotShard[x]!]}, which left ${state.nodeIds[w]} for ${state.nodeIds[v]}`})
    index.update(w)
    index.update(v)
    return true
  }

  /** recheck re-evaluates a ranked candidate now: a push may find a better destination, a pull keeps its own. */
  function recheck(c: Candidate, push: boolean, worst: number): Candidate | undefined {
    if (state.slotNode[c.slot] !== c.from) return undefined
    const to = push ? leastLoadedDestination(state, index, c.slot, undefined, MAX_PROBES) : state.blockReason(c.slot, worst) === undefined ? worst : -1
    return to < 0 ? undefined : evaluate(c.slot, c.from, to, push)
  }

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
    return out.sort((a, b) => worseFirst(state, a, b))
  }

  function evaluate(slot: number, from: number, to: number, push: boolean): Candidate | undefined {
    const a = state.utilDelta(slot, from)
    const b = state.utilDelta(slot, to)
    const uFrom = state.util[from]!
    const uTo = state.util[to]!
    // The destination must end below where the source was: the sorted utilisations decrease.
    if (a <= 0 || uTo + b >= uFrom) return undefined
    const lex = push ? uFrom - Math.max(uFrom - a, uTo + b) : Math.min(uFrom - a, uTo + b) - uTo
    const gain = state.outside(from) + state.outside(to) - state.outsideAt(from, uFrom - a) - state.outsideAt(to, uTo + b)
    if (gain < minStep && lex < minStep) return undefined
    const units = state.slotUnits(slot)
    // Efficiency > 0 when at least half the load moved counts against the imbalance; such
    // moves rank by gain per byte, the rest only by how little they waste.
    const efficiency = 2 * gain - units
    const score = efficiency > 0 ? efficiency / (state.slotBytes(slot) + bytesFloor) : efficiency
    return {slot, from, to, gain, lex, efficiency, score}
  }

  function pushCandidates(src: number): Candidate[] {
    const out: Candidate[] = []
    for (const slot of state.nodeSlots[src]!) {
      if (!state.movable(slot) || skipShards.has(state.slotShard[slot]!)) continue
      const to = leastLoadedDestination(state, index, slot, undefined, MAX_PROBES)
      const c = to >= 0 ? evaluate(slot, src, to, true) : undefined
      if (c) out.push(c)
    }
    return out
  }

  function pullCandidates(dst: number): Candidate[] {
    const out: Candidate[] = []
    for (const src of busiestAbove(dst)) {
      for (const slot of state.nodeSlots[src]!) {
        if (!state.movable(slot) || skipShards.has(state.slotShard[slot]!)) continue
        const c = state.blockReason(slot, dst) === undefined ? evaluate(slot, src, dst, false) : undefined
        if (c) out.push(c)
      }
    }
    return out
  }

  /**
   * busiestAbove returns the {@link PULL_SOURCES} busiest pool nodes of each zone that are
   * busier than `dst`: per zone, because under the zone spread a replica can often only come
   * from `dst`'s own zone, and the busiest nodes overall may all be elsewhere.
   */
  function busiestAbove(dst: number): number[] {
    const perZone = new Map<number, number[]>()
    for (let i = 0; i < n; i++) {
      if (!state.inPool[i] || i === dst || state.util[i]! <= state.util[dst]!) continue
      const z = state.nodeZone[i]!
      let list = perZone.get(z)
      if (!list) perZone.set(z, (list = []))
      list.push(i)
      if (list.length > PULL_SOURCES * 4) trim(list)
    }
    const out: number[] = []
    for (const z of [...perZone.keys()].sort((x, y) => x - y)) out.push(...trim(perZone.get(z)!))
    return out
  }

  function trim(list: number[]): number[] {
    list.sort((x, y) => state.util[y]! - state.util[x]! || x - y)
    list.length = Math.min(list.length, PULL_SOURCES)
    return list
  }
}

/**
 * worseFirst orders nodes outside the band the way the objective ranks them: nodes above the
 * band first, most utilised first, then nodes below it, least utilised first; ties by index.
 */
export function worseFirst(state: ClusterState, a: number, b: number): number {
  const aboveA = state.util[a]! > state.target
  const aboveB = state.util[b]! > state.target
  if (aboveA !== aboveB) return aboveA ? -1 : 1
  const d = aboveA ? state.util[b]! - state.util[a]! : state.util[a]! - state.util[b]!
  return d || a - b
}

/** isBetter ranks candidates: efficient ones (efficiency > 0) first, then by score, then the bigger gain (fewer moves), then by slot for determinism. */
function isBetter(c: Candidate, best: Candidate | undefined): boolean {
  if (!best) return true
  if (c.efficiency > 0 !== best.efficiency > 0) return c.efficiency > 0
  if (Math.abs(c.score - best.score) > SCORE_TIE * Math.max(Math.abs(c.score), Math.abs(best.score))) return c.score > best.score
  if (c.gain !== best.gain) return c.gain > best.gain
  return c.slot < best.slot
}

/** byteFloor keeps gain-per-byte finite for empty replicas: 1% of the mean replica size, at least 1 byte. */
function byteFloor(state: ClusterState): number {
  const slots = state.slotShard.length
  return slots > 0 ? Math.max(1, (state.totals[2]! / slots) * 0.01) : 1
}
