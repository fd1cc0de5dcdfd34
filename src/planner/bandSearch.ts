import {type ActionLog} from './actionLog.js'
import {type ClusterState, UTIL_EPSILON} from './clusterState.js'
import {bandText, ratioText} from './ratioText.js'

/** BAND_SEARCH_MAX_REPLICAS: the search runs only on clusters of at most this many replicas (its cost grows with replicas x nodes per level). */
export const BAND_SEARCH_MAX_REPLICAS = 64
/** BAND_SEARCH_MAX_NODES: nor with more nodes than this (each level tries every receiver). */
export const BAND_SEARCH_MAX_NODES = 16
/** BAND_SEARCH_MAX_DEPTH: the most moves a searched plan makes. */
export const BAND_SEARCH_MAX_DEPTH = 8
/** BAND_SEARCH_BUDGET bounds the search nodes one search visits (over every depth): measured at most about 0.1 s added (64 replicas, band out of reach, a loaded 2-core machine); 150,000 found nothing more on the move optimality test. */
const BAND_SEARCH_BUDGET = 50_000
/** ORDER_BUDGET bounds the orders tried when making a found set of moves one at a time under every rule. */
const ORDER_BUDGET = 2_000

/** BandMove: slot `slot` goes to node `to`. */
export interface BandMove {
  slot: number
  to: number
}

/** BandSolution: moves in an order that keeps every rule at every step, and the bytes they copy. */
export interface BandSolution {
  moves: BandMove[]
  bytes: number
}

/** BandSearchLimits: at most `moves` moves and `bytes` bytes (Infinity when unlimited). */
export interface BandSearchLimits {
  moves: number
  bytes: number
}

/**
 * fewestMovesToBand searches the fewest moves (then the fewest bytes) that put every pool
 * node within the band [floor, target], by iterative deepening over which movable replica
 * goes to which receiver, each replica moving at most once. It complements the greedy
 * balance orders where they end in a local optimum (filling a new node two replicas at a
 * time can leave one node a replica over and another one under, with no single move or swap
 * between them that helps) or take many small moves where one big one does (gain per byte
 * ranks a big replica that overshoots the band's top below the small ones).
 *
 * Rules are checked as the plan makes them: a found set of moves counts only once some order
 * of it passes {@link ClusterState.blockReason} at every step (capacity, zone spread,
 * forbids, receivers, one replica per node), tried on a copy of the state. Pinned replicas
 * and shards mid-move (cool-downs, unfinished moves) never move; `limits` caps moves and bytes.
 *
 * Deterministic (replicas in slot order, receivers in index order) and bounded: at most
 * {@link BAND_SEARCH_BUDGET} search nodes and {@link BAND_SEARCH_MAX_DEPTH} moves; returns
 * undefined when nothing within those bounds reaches the band. A lower bound prunes: a node
 * above the band needs at least its excess over its biggest replica still free to move many
 * moves out, a node below it its deficit over the biggest replica that could come in, and
 * one move serves one source and one destination. Callers keep it to small clusters.
 */
export function fewestMovesToBand(state: ClusterState, maxDepth: number, limits: BandSearchLimits): BandSolution | undefined {
  return new BandSearch(state, limits).run(Math.min(maxDepth, BAND_SEARCH_MAX_DEPTH, limits.moves))
}

class BandSearch {
  private readonly n: number
  /** cand: movable slots in slot order. */
  private readonly cand: number[]
  /** delta[i * n + x]: how much candidate i's replica changes node x's utilisation. */
  private readonly delta: Float64Array
  /** maxOut[i * n + x]: the biggest delta of a candidate from i on, originally on x (what one move can take off x). */
  private readonly maxOut: Float64Array
  /** maxIn[i * n + x]: the biggest delta of a candidate from i on that may go to x (what one move can bring x). */
  private readonly maxIn: Float64Array
  private readonly util: Float64Array
  /** at[slot]: where each slot is in the search (slots of a shard are contiguous, see Placement). */
  private readonly at: Int32Array
  private readonly bytesOf: Float64Array
  private readonly chosen: BandMove[] = []
  private budget = BAND_SEARCH_BUDGET
  private best: BandSolution | undefined

  constructor(
    private readonly state: ClusterState,
    private readonly limits: BandSearchLimits,
  ) {
    const {model, placement} = state
    const n = (this.n = model.nodeCount)
    this.cand = []
    for (let slot = 0; slot < placement.slotCount; slot++) if (state.movable(slot)) this.cand.push(slot)
    const m = this.cand.length
    this.delta = new Float64Array(m * n)
    this.bytesOf = new Float64Array(m)
    this.maxOut = new Float64Array((m + 1) * n)
    this.maxIn = new Float64Array((m + 1) * n)
    for (let i = m - 1; i >= 0; i--) {
      const slot = this.cand[i]!
      const from = placement.slotNode[slot]!
      this.bytesOf[i] = state.slotBytes(slot)
      for (let x = 0; x < n; x++) {
        const d = state.utilDelta(slot, x)
        this.delta[i * n + x] = d
        const canGo = x !== from && this.mayReceive(slot, x)
        this.maxOut[i * n + x] = Math.max(this.maxOut[(i + 1) * n + x]!, x === from ? d : 0)
        this.maxIn[i * n + x] = Math.max(this.maxIn[(i + 1) * n + x]!, canGo ? d : 0)
      }
    }
    this.util = Float64Array.from(placement.util)
    this.at = Int32Array.from(placement.slotNode)
  }

  run(maxDepth: number): BandSolution | undefined {
    if (this.cand.length === 0 || maxDepth <= 0) return undefined
    for (let depth = 1; depth <= maxDepth; depth++) {
      if (this.lowerBound(0) > depth) continue
      this.visit(0, depth, 0)
      if (this.best || this.budget < 0) break
    }
    return this.best
  }

  /** visit tries moving candidates from `i` on with `left` moves to spare; `bytes` so far. */
  private visit(i: number, left: number, bytes: number): void {
    if (--this.budget < 0) return
    if (this.chosen.length > 0 && this.inBand()) {
      this.record(bytes)
      return
    }
    if (left === 0 || i >= this.cand.length || this.lowerBound(i) > left) return
    // This candidate moves (to each receiver in index order), then stays where it is.
    const slot = this.cand[i]!
    const from = this.at[slot]!
    const n = this.n
    const b = this.bytesOf[i]!
    for (let to = 0; to < n && this.budget >= 0; to++) {
      if (to === from || !this.mayReceive(slot, to) || this.shardOn(slot, to)) continue
      const nextBytes = bytes + b
      if (nextBytes > this.limits.bytes || (this.best && nextBytes >= this.best.bytes)) continue
      this.util[from] = this.util[from]! - this.delta[i * n + from]!
      this.util[to] = this.util[to]! + this.delta[i * n + to]!
      this.at[slot] = to
      this.chosen.push({slot, to})
      this.visit(i + 1, left - 1, nextBytes)
      this.chosen.pop()
      this.at[slot] = from
      this.util[to] = this.util[to]! - this.delta[i * n + to]!
      this.util[from] = this.util[from]! + this.delta[i * n + from]!
    }
    if (this.budget >= 0) this.visit(i + 1, left, bytes)
  }

  /** record keeps the chosen moves when some order of them keeps every rule and they copy fewer bytes than the best so far. */
  private record(bytes: number): void {
    if (this.best && bytes >= this.best.bytes) return
    const order = ruleKeepingOrder(this.state, this.chosen)
    if (order) this.best = {moves: order, bytes}
  }

  /** mayReceive: the static rules for slot's replica on node x (a receiver, not forbidden). */
  private mayReceive(slot: number, x: number): boolean {
    const {model, placement} = this.state
    return model.receiver[x] === 1 && !(placement.hasForbids && placement.isForbidden(placement.slotShard[slot]!, x))
  }

  /** shardOn tells whether another replica of slot's shard is on node x in the search. */
  private shardOn(slot: number, x: number): boolean {
    const p = this.state.placement
    const s = p.slotShard[slot]!
    const first = p.firstSlot(s)
    const end = first + p.slotWidth(s)
    for (let other = first; other < end; other++) if (other !== slot && this.at[other] === x) return true
    return false
  }

  private inBand(): boolean {
    for (let x = 0; x < this.n; x++) if (this.state.outsideAt(x, this.util[x]!) > 0) return false
    return true
  }

  /** lowerBound is the fewest moves of candidates from `i` on that could bring every node into the band (Infinity when none can). */
  private lowerBound(i: number): number {
    const {model} = this.state
    const n = this.n
    let out = 0
    let into = 0
    for (let x = 0; x < n; x++) {
      if (!model.inPool[x]) continue
      const u = this.util[x]!
      const excess = u - model.target - UTIL_EPSILON
      if (excess > 0) {
        const step = this.maxOut[i * n + x]!
        if (step <= 0) return Infinity
        out += Math.ceil(excess / step - 1e-9)
        continue
      }
      const deficit = model.floor - UTIL_EPSILON - u
      if (deficit > 0 && model.receiver[x]) {
        const step = this.maxIn[i * n + x]!
        if (step <= 0) return Infinity
        into += Math.ceil(deficit / step - 1e-9)
      }
    }
    return Math.max(out, into)
  }
}

/**
 * ruleKeepingOrder finds an order of `moves` in which each passes every placement rule when
 * made (tried on a copy of the state; the given order first, depth first, at most
 * {@link ORDER_BUDGET} steps), or undefined. Capacity and the zone spread depend on order:
 * a replica may only come to a full node once another has left it.
 */
export function ruleKeepingOrder(state: ClusterState, moves: readonly BandMove[]): BandMove[] | undefined {
  const trial = state.clone()
  const done = new Uint8Array(moves.length)
  const order: BandMove[] = []
  let budget = ORDER_BUDGET
  const place = (): boolean => {
    if (order.length === moves.length) return true
    for (let k = 0; k < moves.length; k++) {
      if (done[k] || --budget < 0) continue
      const {slot, to} = moves[k]!
      if (trial.blockReason(slot, to) !== undefined) continue
      const from = trial.placement.slotNode[slot]!
      trial.placement.moveSlot(slot, to)
      done[k] = 1
      order.push(moves[k]!)
      if (place()) return true
      order.pop()
      done[k] = 0
      trial.placement.moveSlot(slot, from)
    }
    return false
  }
  return place() ? order : undefined
}

/**
 * applyBandSolution makes a {@link fewestMovesToBand} solution's moves through `log`, in its
 * order, each with the reason it exists; returns false when a move or byte limit stopped it
 * (the search kept within the limits it was given, so only a caller's mistake does).
 */
export function applyBandSolution(state: ClusterState, log: ActionLog, solution: BandSolution, greedyText: string): boolean {
  const {model, placement} = state
  const band = bandText(model.floor, model.target)
  const k = solution.moves.length
  for (const [j, {slot, to}] of solution.moves.entries()) {
    if (!log.fits(state.slotBytes(slot))) return false
    const from = placement.slotNode[slot]!
    const bounds = [model.floor, model.target]
    const detail = `move ${j + 1} of ${k}, the fewest found that bring every node within ${band} (${model.nodeIds[from]} at ${ratioText(placement.util[from]!, bounds)}x, ${model.nodeIds[to]} at ${ratioText(placement.util[to]!, bounds)}x before it); ${greedyText}`
    log.move(slot, to, {kind: 'balance', resource: state.dominantResource(slot, from), detail})
  }
  return true
}
