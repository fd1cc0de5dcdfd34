import {type StopReason} from '../model/plan.js'
import {type ActionLog} from './actionLog.js'
import {type ClusterState} from './clusterState.js'
import {leastLoadedDestination} from './destinations.js'
import {boundText, ratioText} from './ratioText.js'
import {type ReceiverIndex} from './receiverIndex.js'

/** MAX_PROBES bounds how many receivers a push examines per replica and zone; the front of the index is where the room is. */
const MAX_PROBES = 64
/** PULL_SOURCES: an underloaded node pulls from the replicas of this many of the busiest nodes of each zone. */
const PULL_SOURCES = 8
/** SWAP_PARTNERS: a stuck node tries swaps with this many of the least utilised receivers. */
const SWAP_PARTNERS = 8
/** SWAP_BUDGET bounds the replica pairs one swap search examines, so a stuck node in a big cluster stays cheap. */
const SWAP_BUDGET = 200_000
/** CHAIN_PARTNERS: a stuck node tries chains through this many of the least utilised receivers. */
const CHAIN_PARTNERS = 16
/** CHAIN_BUDGET bounds the (x, y) pairs one chain search examines (each may probe for a destination). */
const CHAIN_BUDGET = 20_000
/** EXCHANGE_BUDGET bounds the replica groups one exchange search examines (it runs only on small clusters, see steepestStep). */
const EXCHANGE_BUDGET = 50_000
/** EXCHANGE_TRIALS bounds how many of the best exchanges are tried out on a copy before giving up (a capacity or zone rule may block one midway). */
const EXCHANGE_TRIALS = 16
/** SCORE_TIE: scores this close (relatively) are equal, and the move that does more at once wins (fewer moves). */
const SCORE_TIE = 1e-9

/** BalanceOutcome says why balancing stopped and which over-target nodes it could not relieve. */
export interface BalanceOutcome {
  stop: Extract<StopReason, 'within-target' | 'no-improvement' | 'max-moves' | 'max-bytes'>
  /** stuck: nodes still outside the target band when balancing stopped, worst first. */
  stuck: number[]
}

/** Swap: replica x leaves w for v and replica y leaves v for w; lex is how much w's peak drops, bytes what both copy. */
interface Swap {
  x: number
  y: number
  v: number
  lex: number
  bytes: number
}

/** Chain: replica y leaves v for u, then replica x leaves w for v (see makeRoom). */
interface Chain extends Swap {
  u: number
}

/** Exchange: replicas `out` leave w for v and replicas `back` leave v for w (see bestExchange). */
interface Exchange {
  out: number[]
  back: number[]
  v: number
  lex: number
  bytes: number
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
  const slots = state.placement.slotCount
  return slots > 0 ? state.model.poolSize / slots : 0
}

/**
 * BalanceOrder picks how the balance phase ranks the moves that take load out of the band:
 * `efficient` by load removed per byte copied (a hot, small shard beats a cold, big one);
 * `largest-first` by the replica's load, biggest first, as best fit decreasing does (the big
 * replicas are placed while there is still room for them, which a byte-thrifty order can
 * leave stranded); `steepest` like `largest-first`, but a step takes whichever of the biggest
 * replica's move, a swap, a make-room chain or an exchange of up to two replicas each way
 * lowers the node most. Neither of the last two dominates the other on small clusters, so the
 * planner runs both and keeps the better (see planRebalance).
 */
export type BalanceOrder = 'efficient' | 'largest-first' | 'steepest'

/**
 * balance is the planner's second goal. Its objective is lexicographic: lower the most
 * utilised node, then the next most utilised, and so on, stopping once every pool node is
 * within the band [2 - target, target] around the mean of 1. Every move keeps every
 * placement rule and ends with its destination below where its source was (uTo + b < uFrom),
 * so the sorted vector of utilisations strictly decreases and balancing terminates.
 *
 * Each step takes the node furthest outside the band (in average-node units). First it looks
 * for moves that take load out of the band (from it, or, for an underloaded node, into it
 * from the busiest nodes of each zone), ranked by `order` (at equal rank the bigger step wins:
 * one move rather than three). When none does, it makes the moves that best lower it (or
 * raise it) toward its peers even though the band stays out of reach: a destination may then
 * end above the band, as long as it ends below where the source was. When no single move
 * helps an overloaded node, it swaps a replica with a lighter one on a lightly used node.
 *
 * Anti-churn is scale-free: a move must remove at least `minImprovement` times an average
 * replica's load from outside the band, or lower the busier node (raise the emptier) by that
 * much in utilisation; the threshold is relative to a replica, never to a node, so clusters of
 * many small shards balance as well as clusters of few big ones.
 */
export function balance(state: ClusterState, log: ActionLog, index: ReceiverIndex, minImprovement: number, order: BalanceOrder = 'efficient'): BalanceOutcome {
  return new Balancer(state, log, index, minImprovement, order).run()
}

/** Balancer holds one balance run's state; see {@link balance}. */
class Balancer {
  private readonly n: number
  private readonly stuck: Uint8Array
  private readonly bytesFloor: number
  private readonly minStep: number

  constructor(
    private readonly state: ClusterState,
    private readonly log: ActionLog,
    private readonly index: ReceiverIndex,
    minImprovement: number,
    private readonly order: BalanceOrder,
  ) {
    this.n = state.model.nodeCount
    this.stuck = new Uint8Array(this.n)
    this.bytesFloor = byteFloor(state)
    this.minStep = Math.max(minImprovement * averageReplicaUnits(state), 1e-12)
  }

  run(): BalanceOutcome {
    for (;;) {
      const worst = this.worstUnstuck()
      if (worst < 0) break
      const moved = this.relieve(worst)
      if (moved === 'limit') return {stop: this.log.limitHit!, stuck: this.remaining()}
      if (moved === 0) this.stuck[worst] = 1
      // Best fit decreasing revisits nodes given up on once a move changed their neighbours.
      else if (this.order !== 'efficient') this.stuck.fill(0)
    }
    const left = this.remaining()
    return {stop: left.length > 0 ? 'no-improvement' : 'within-target', stuck: left}
  }

  /**
   * worstUnstuck is the node not yet given up on that is furthest outside the band (in
   * average-node units), or with `largest-first` the most utilised node above the band when
   * there is one (the objective's first term); -1 when every node is within the band or stuck.
   */
  private worstUnstuck(): number {
    if (this.order !== 'efficient') {
      const top = this.mostUtilisedAbove()
      if (top >= 0) return top
    }
    let worst = -1
    let worstOut = 0
    for (let i = 0; i < this.n; i++) {
      if (this.stuck[i]) continue
      const o = this.state.outside(i)
      if (o > worstOut) {
        worstOut = o
        worst = i
      }
    }
    return worst
  }

  /** mostUtilisedAbove is the most utilised unstuck pool node above the band (ties: lowest index), or -1. */
  private mostUtilisedAbove(): number {
    let top = -1
    for (let i = 0; i < this.n; i++) {
      if (this.stuck[i] || !this.state.model.inPool[i] || this.state.outside(i) <= 0 || this.state.placement.util[i]! <= this.state.model.target) continue
      if (top < 0 || this.state.placement.util[i]! > this.state.placement.util[top]!) top = i
    }
    return top
  }

  /** relieve makes the moves that bring `worst` toward the band; returns how many, or 'limit' when a move or byte limit stopped it. */
  private relieve(worst: number): number | 'limit' {
    const push = this.state.placement.util[worst]! > this.state.model.target
    // Rank every candidate once, then take them in order while they still help: each is
    // re-checked against the current state (destinations fill up, the excess shrinks), so
    // one ranking serves many moves instead of one.
    const candidates = push ? this.pushCandidates(worst) : this.pullCandidates(worst)
    if (this.order !== 'efficient') {
      // Best fit decreasing: the biggest replica whose move lowers the peak goes first, one
      // move per step, so the node the move filled is reconsidered before anything else.
      candidates.sort((a, b) => this.rankLex(a, b))
      if (push && this.order === 'steepest') return this.steepestStep(candidates, worst)
      const moved = this.takeInOrder(candidates, push, worst, 'lex', 1)
      if (moved !== 0 || !push) return moved
      const swapped = this.swapOnce(worst)
      if (swapped !== 0) return swapped
      const chain = this.bestChain(worst)
      return chain ? this.makeRoom(worst, chain) : 0
    }
    const towardBand = candidates.filter((c) => c.gain >= this.minStep)
    towardBand.sort((a, b) => this.rank(a, b))
    let moved = this.takeInOrder(towardBand, push, worst, 'gain')
    if (moved === 0) {
      // Nothing takes load out of the band: even the node out with its peers (lexicographic).
      candidates.sort((a, b) => this.rankLex(a, b))
      moved = this.takeInOrder(candidates, push, worst, 'lex')
    }
    return moved === 0 && push ? this.swapOnce(worst) : moved
  }

  /** swapOnce swaps when no single move helps `worst`: 1 when it swapped, 0 when not, or 'limit'. */
  private swapOnce(worst: number): number | 'limit' {
    const best = this.bestSwap(worst)
    if (!best) return 0
    const swapped = this.swap(worst, best)
    return swapped === 'limit' ? 'limit' : 1
  }

  /**
   * steepestStep is one largest-first step for an overloaded node `w`: the biggest replica
   * whose move lowers w's peak, unless a swap or a make-room chain lowers it further (then
   * the one that lowers it most; on ties the fewer moves). The biggest replica alone can
   * leave w above a level that exchanging or re-seating a replica reaches: with 3, 1, 1, 2
   * on a node of 4 and room for 1 and 2 elsewhere, moving a 1 stops at 1.25x where making
   * room reaches 1x. Returns how many steps were taken (0 or 1), or 'limit'.
   */
  private steepestStep(ranked: readonly Candidate[], w: number): number | 'limit' {
    const single = this.firstFresh(ranked, w)
    const swap = this.bestSwap(w)
    const chain = this.bestChain(w)
    const exchange = this.bestExchange(w)
    const singleLex = single?.lex ?? -Infinity
    const swapLex = swap?.lex ?? -Infinity
    const chainLex = chain?.lex ?? -Infinity
    // Fewer moves win ties: a single move, then a swap or chain (two), then an exchange (three or four).
    if (exchange && exchange.lex > Math.max(singleLex, swapLex, chainLex) + SCORE_TIE) return this.exchange(w, exchange)
    if (chain && chainLex > Math.max(singleLex, swapLex) + SCORE_TIE) return this.makeRoom(w, chain)
    if (swap && swapLex > singleLex + SCORE_TIE) return this.swap(w, swap) === 'limit' ? 'limit' : 1
    if (!single) return 0
    if (!this.log.fits(this.state.slotBytes(single.slot))) return 'limit'
    this.apply(single, true)
    return 1
  }

  /**
   * bestExchange finds the exchange of groups of replicas between `w` and a lightly used
   * receiver v, two for one, one for two or two for two (a one-for-one is a {@link swap}),
   * that lowers the busier of the two most (by at least minStep; fewest bytes on ties) and
   * can be made one move at a time keeping every rule (tried on a copy of the state, w's
   * replicas first). One for one cannot even out a node of 5, 1, 1 against one of 3 (the
   * 3 must come for the two 1s). Bounded by {@link EXCHANGE_BUDGET}; meant for small
   * clusters (the search is cubic in a node's replicas).
   */
  private bestExchange(w: number): Exchange | undefined {
    const state = this.state
    if (!state.model.receiver[w]) return undefined
    const uW = state.placement.util[w]!
    let budget = EXCHANGE_BUDGET
    const found: Exchange[] = []
    const fromW = state.placement.nodeSlots[w]!.filter((x) => state.movable(x))
    const groupsW = groupsOfUpToTwo(fromW)
    for (const v of this.index.nodes.slice(0, SWAP_PARTNERS)) {
      if (v === w || !state.model.inPool[v]) continue
      const uV = state.placement.util[v]!
      const groupsV = groupsOfUpToTwo(state.placement.nodeSlots[v]!.filter((y) => state.movable(y)))
      for (const out of groupsW) {
        if (out.some((x) => state.holds(state.placement.slotShard[x]!, v))) continue
        let outW = 0
        let inV = 0
        for (const x of out) {
          outW += state.utilDelta(x, w)
          inV += state.utilDelta(x, v)
        }
        for (const back of groupsV) {
          if (out.length + back.length < 3) continue
          if (--budget < 0) return this.firstFeasible(found, w)
          let inW = 0
          let outV = 0
          for (const y of back) {
            inW += state.utilDelta(y, w)
            outV += state.utilDelta(y, v)
          }
          const lex = uW - Math.max(uW - outW + inW, uV - outV + inV)
          if (lex < this.minStep) continue
          if (back.some((y) => state.holds(state.placement.slotShard[y]!, w) || out.some((x) => state.placement.slotShard[x] === state.placement.slotShard[y]))) continue
          let bytes = 0
          for (const slot of [...out, ...back]) bytes += state.slotBytes(slot)
          found.push({out, back, v, lex, bytes})
        }
      }
    }
    return this.firstFeasible(found, w)
  }

  /** firstFeasible is the best of `found` (most lex, fewest bytes, then found first) that a copy of the state can make move by move, or undefined. */
  private firstFeasible(found: Exchange[], w: number): Exchange | undefined {
    const ranked = found.map((e, i) => ({e, i})).sort((a, b) => b.e.lex - a.e.lex || a.e.bytes - b.e.bytes || a.i - b.i)
    for (const {e} of ranked.slice(0, EXCHANGE_TRIALS)) {
      const trial = this.state.clone()
      const steps: [number, number][] = [...e.out.map((x): [number, number] => [x, e.v]), ...e.back.map((y): [number, number] => [y, w])]
      if (steps.every(([slot, to]) => trial.blockReason(slot, to) === undefined && (trial.placement.moveSlot(slot, to), true))) return e
    }
    return undefined
  }

  /** exchange makes a {@link bestExchange} move by move (w's replicas first); 1, or 'limit' when a move or byte limit stopped it. */
  private exchange(w: number, e: Exchange): number | 'limit' {
    const {state, log, index} = this
    const names = (slots: readonly number[]) => slots.map((slot) => state.placement.shardId[state.placement.slotShard[slot]!]).join(' and ')
    const detail = `node ${state.model.nodeIds[w]} is at ${ratioText(state.placement.util[w]!, [state.model.target])}x the mean (target ${state.model.target}) and no single move or swap lowers it as far: shard(s) ${names(e.out)} exchanged for shard(s) ${names(e.back)} on ${state.model.nodeIds[e.v]}`
    const steps: [number, number, number][] = [...e.out.map((x): [number, number, number] => [x, w, e.v]), ...e.back.map((y): [number, number, number] => [y, e.v, w])]
    for (const [slot, from, to] of steps) {
      if (!log.fits(state.slotBytes(slot))) return 'limit'
      log.move(slot, to, {kind: 'balance', resource: state.dominantResource(slot, from), detail})
      index.update(from)
      index.update(to)
    }
    return 1
  }

  /** firstFresh is the first ranked push candidate that, re-checked now, still lowers `worst` by minStep. */
  private firstFresh(ranked: readonly Candidate[], worst: number): Candidate | undefined {
    if (this.state.outside(worst) <= 0) return undefined
    for (const c of ranked) {
      const fresh = this.recheck(c, true, worst)
      if (fresh && fresh.lex >= this.minStep) return fresh
    }
    return undefined
  }

  /** rank orders candidates that take load out of the band, best first, by {@link BalanceOrder}. */
  private rank(a: Candidate, b: Candidate): number {
    if (this.order !== 'efficient') {
      const d = this.state.slotUnits(b.slot) - this.state.slotUnits(a.slot)
      if (Math.abs(d) > SCORE_TIE) return d
    }
    return isBetter(a, b) ? -1 : isBetter(b, a) ? 1 : 0
  }

  /** rankLex orders candidates that only even a node out with its peers: by {@link BalanceOrder}, then the biggest step, then fewer bytes. */
  private rankLex(a: Candidate, b: Candidate): number {
    if (this.order !== 'efficient') {
      const d = this.state.slotUnits(b.slot) - this.state.slotUnits(a.slot)
      if (Math.abs(d) > SCORE_TIE) return d
      return a.slot - b.slot
    }
    return b.lex - a.lex || this.state.slotBytes(a.slot) - this.state.slotBytes(b.slot) || a.slot - b.slot
  }

  /**
   * takeInOrder applies ranked candidates (at most `atMost`) while `worst` is outside the band,
   * each re-checked now and still worth `minStep` by `measure`; returns how many moved, or 'limit'.
   */
  private takeInOrder(ranked: readonly Candidate[], push: boolean, worst: number, measure: 'gain' | 'lex', atMost = Infinity): number | 'limit' {
    let moved = 0
    for (const c of ranked) {
      if (this.state.outside(worst) <= 0 || moved >= atMost) break
      const fresh = this.recheck(c, push, worst)
      if (!fresh || fresh[measure] < this.minStep) continue
      // The best candidate may be a wasteful one when nothing better exists; later ones must be efficient.
      if (measure === 'gain' && moved > 0 && fresh.efficiency <= 0) continue
      if (!this.log.fits(this.state.slotBytes(c.slot))) return 'limit'
      this.apply(fresh, push)
      moved++
    }
    return moved
  }

  /**
   * makeRoom is a chain of two moves for an overloaded node `w` that no single move or swap
   * relieves: a replica y leaves a node v for a third node u, which makes room on v for a
   * replica x of `w` (found by {@link bestChain}). The chain is judged whole: w, v and u all end below where w was, so the
   * sorted utilisations decrease (the first move alone may be sideways: u may end above where
   * v was, as when a replica must step aside before a bigger one fits) and w's peak drops by
   * at least minStep. Biggest
   * replicas of `w` first, v among the least utilised receivers; bounded by {@link CHAIN_BUDGET}.
   * Returns 1 when it moved, or 'limit'.
   */
  private makeRoom(w: number, best: Chain): number | 'limit' {
    const {state, log, index} = this
    const {x, y, v, u} = best
    if (!log.fits(state.slotBytes(y))) return 'limit'
    log.move(y, u, {kind: 'balance', resource: state.dominantResource(y, v), detail: `makes room on ${state.model.nodeIds[v]} for shard ${state.placement.shardId[state.placement.slotShard[x]!]} from ${state.model.nodeIds[w]}, which is at ${ratioText(state.placement.util[w]!, [state.model.target])}x the mean and no single move or swap lowers it`})
    index.update(v)
    index.update(u)
    if (!log.fits(state.slotBytes(x))) return 'limit'
    log.move(x, v, {kind: 'balance', resource: state.dominantResource(x, w), detail: `node ${state.model.nodeIds[w]} is at ${ratioText(state.placement.util[w]!, [state.model.target])}x the mean (target ${state.model.target}); ${state.model.nodeIds[v]} made room for this replica`})
    index.update(w)
    index.update(v)
    return 1
  }

  /** bestChain searches the {@link makeRoom} chain that lowers `w`'s peak most (fewest bytes on ties). */
  private bestChain(w: number): Chain | undefined {
    const state = this.state
    const uW = state.placement.util[w]!
    let best: Chain | undefined
    let budget = CHAIN_BUDGET
    const xs = state.placement.nodeSlots[w]!.filter((x) => state.movable(x)).sort((a, b) => state.slotUnits(b) - state.slotUnits(a) || a - b)
    const partners = this.index.nodes.slice(0, CHAIN_PARTNERS).filter((v) => v !== w && state.model.inPool[v])
    for (const x of xs) {
      const sx = state.placement.slotShard[x]!
      for (const v of partners) {
        if (state.blockReason(x, v) !== undefined) continue
        const uV = state.placement.util[v]!
        for (const y of state.placement.nodeSlots[v]!) {
          if (--budget < 0) return best
          const sy = state.placement.slotShard[y]!
          if (sy === sx || !state.movable(y)) continue
          const afterV = uV - state.utilDelta(y, v) + state.utilDelta(x, v)
          if (afterV >= uW) continue
          const u = leastLoadedDestination(state, this.index, y, (node) => node !== w, MAX_PROBES)
          if (u < 0) continue
          // u may end above where v was (a sideways first step): the chain is judged whole,
          // and lex >= minStep below puts all three nodes under where w was.
          const afterU = state.placement.util[u]! + state.utilDelta(y, u)
          const lex = uW - Math.max(uW - state.utilDelta(x, w), afterV, afterU)
          const bytes = state.slotBytes(x) + state.slotBytes(y)
          if (lex < this.minStep || (best && !(lex > best.lex + 1e-12 || (Math.abs(lex - best.lex) <= 1e-12 && bytes < best.bytes)))) continue
          best = {x, y, v, u, lex, bytes}
        }
      }
    }
    return best
  }

  /**
   * swap finds the exchange of a replica x on `w` with a less loaded replica y on a lightly
   * used receiver v that lowers the busier of the two nodes the most (at least by minStep),
   * and applies it as two moves (x to v, then y to w), each keeping every rule when made.
   * Returns true when it swapped, 'limit' when a move or byte limit stopped it.
   */
  private swap(w: number, best: Swap): true | 'limit' {
    const {state, log, index} = this
    const {x, y, v} = best
    const uW = state.placement.util[w]!
    if (!log.fits(state.slotBytes(x))) return 'limit'
    const resource = state.dominantResource(x, w)
    log.move(x, v, {kind: 'balance', resource, detail: `node ${state.model.nodeIds[w]} is at ${ratioText(uW, [state.model.target])}x the mean (target ${state.model.target}) and no single move lowers it: swapped with shard ${state.placement.shardId[state.placement.slotShard[y]!]} on ${state.model.nodeIds[v]}`})
    index.update(w)
    index.update(v)
    if (!log.fits(state.slotBytes(y))) return 'limit'
    log.move(y, w, {kind: 'balance', resource: state.dominantResource(y, v), detail: `second half of a swap with shard ${state.placement.shardId[state.placement.slotShard[x]!]}, which left ${state.model.nodeIds[w]} for ${state.model.nodeIds[v]}`})
    index.update(w)
    index.update(v)
    return true
  }

  /** bestSwap searches (within {@link SWAP_BUDGET} pairs) the swap that lowers the busier of `w` and its partner most, fewest bytes on ties. */
  private bestSwap(w: number): Swap | undefined {
    const state = this.state
    if (!state.model.receiver[w]) return undefined
    const uW = state.placement.util[w]!
    let best: Swap | undefined
    let budget = SWAP_BUDGET
    const partners = this.index.nodes.slice(0, SWAP_PARTNERS).filter((v) => v !== w && state.model.inPool[v])
    for (const x of state.placement.nodeSlots[w]!) {
      if (!state.movable(x)) continue
      const sx = state.placement.slotShard[x]!
      for (const v of partners) {
        if (state.blockReason(x, v) !== undefined) continue
        const uV = state.placement.util[v]!
        for (const y of state.placement.nodeSlots[v]!) {
          if (--budget < 0) break
          const sy = state.placement.slotShard[y]!
          if (sy === sx || !state.movable(y) || state.holds(sy, w)) continue
          const afterW = uW - state.utilDelta(x, w) + state.utilDelta(y, w)
          const afterV = uV - state.utilDelta(y, v) + state.utilDelta(x, v)
          const lex = uW - Math.max(afterW, afterV)
          if (lex < this.minStep) continue
          const bytes = state.slotBytes(x) + state.slotBytes(y)
          if (best && !(lex > best.lex + 1e-12 || (Math.abs(lex - best.lex) <= 1e-12 && bytes < best.bytes))) continue
          // Checked with x still on w: if y fits now, it fits once x has left (w only gets room).
          if (state.blockReason(y, w) === undefined) best = {x, y, v, lex, bytes}
        }
      }
    }
    return best
  }

  /** recheck re-evaluates a ranked candidate now: a push may find a better destination, a pull keeps its own. */
  private recheck(c: Candidate, push: boolean, worst: number): Candidate | undefined {
    const state = this.state
    if (state.placement.slotNode[c.slot] !== c.from) return undefined
    const to = push ? leastLoadedDestination(state, this.index, c.slot, undefined, MAX_PROBES) : state.blockReason(c.slot, worst) === undefined ? worst : -1
    return to < 0 ? undefined : this.evaluate(c.slot, c.from, to, push)
  }

  private apply(c: Candidate, push: boolean): void {
    const state = this.state
    const from = state.placement.slotNode[c.slot]!
    const resource = state.dominantResource(c.slot, from)
    const detail = push
      ? `node ${state.model.nodeIds[from]} is at ${ratioText(state.placement.util[from]!, [state.model.target])}x the mean (target ${state.model.target}); this replica carries ${resource} load`
      : `node ${state.model.nodeIds[c.to]} is at ${ratioText(state.placement.util[c.to]!, [state.model.floor])}x the mean (floor ${boundText(state.model.floor)}); this replica carries ${resource} load`
    this.log.move(c.slot, c.to, {kind: 'balance', resource, detail})
    this.index.update(from)
    this.index.update(c.to)
  }

  private remaining(): number[] {
    const out: number[] = []
    for (let i = 0; i < this.n; i++) if (this.state.outside(i) > 0) out.push(i)
    return out.sort((a, b) => worseFirst(this.state, a, b))
  }

  private evaluate(slot: number, from: number, to: number, push: boolean): Candidate | undefined {
    const state = this.state
    const a = state.utilDelta(slot, from)
    const b = state.utilDelta(slot, to)
    const uFrom = state.placement.util[from]!
    const uTo = state.placement.util[to]!
    // The destination must end below where the source was: the sorted utilisations decrease.
    if (a <= 0 || uTo + b >= uFrom) return undefined
    const lex = push ? uFrom - Math.max(uFrom - a, uTo + b) : Math.min(uFrom - a, uTo + b) - uTo
    const gain = state.outside(from) + state.outside(to) - state.outsideAt(from, uFrom - a) - state.outsideAt(to, uTo + b)
    if (gain < this.minStep && lex < this.minStep) return undefined
    const units = state.slotUnits(slot)
    // Efficiency > 0 when at least half the load moved counts against the imbalance; such
    // moves rank by gain per byte, the rest only by how little they waste.
    const efficiency = 2 * gain - units
    const score = efficiency > 0 ? efficiency / (state.slotBytes(slot) + this.bytesFloor) : efficiency
    return {slot, from, to, gain, lex, efficiency, score}
  }

  private pushCandidates(src: number): Candidate[] {
    const out: Candidate[] = []
    for (const slot of this.state.placement.nodeSlots[src]!) {
      if (!this.state.movable(slot)) continue
      const to = leastLoadedDestination(this.state, this.index, slot, undefined, MAX_PROBES)
      const c = to >= 0 ? this.evaluate(slot, src, to, true) : undefined
      if (c) out.push(c)
    }
    return out
  }

  private pullCandidates(dst: number): Candidate[] {
    const out: Candidate[] = []
    for (const src of this.busiestAbove(dst)) {
      for (const slot of this.state.placement.nodeSlots[src]!) {
        if (!this.state.movable(slot)) continue
        const c = this.state.blockReason(slot, dst) === undefined ? this.evaluate(slot, src, dst, false) : undefined
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
  private busiestAbove(dst: number): number[] {
    const state = this.state
    const perZone = new Map<number, number[]>()
    for (let i = 0; i < this.n; i++) {
      if (!state.model.inPool[i] || i === dst || state.placement.util[i]! <= state.placement.util[dst]!) continue
      const z = state.model.nodeZone[i]!
      let list = perZone.get(z)
      if (!list) perZone.set(z, (list = []))
      list.push(i)
      if (list.length > PULL_SOURCES * 4) this.trim(list)
    }
    const out: number[] = []
    for (const z of [...perZone.keys()].sort((x, y) => x - y)) out.push(...this.trim(perZone.get(z)!))
    return out
  }

  private trim(list: number[]): number[] {
    list.sort((x, y) => this.state.placement.util[y]! - this.state.placement.util[x]! || x - y)
    list.length = Math.min(list.length, PULL_SOURCES)
    return list
  }
}

/**
 * worseFirst orders nodes outside the band the way the objective ranks them: nodes above the
 * band first, most utilised first, then nodes below it, least utilised first; ties by index.
 */
export function worseFirst(state: ClusterState, a: number, b: number): number {
  const aboveA = state.placement.util[a]! > state.model.target
  const aboveB = state.placement.util[b]! > state.model.target
  if (aboveA !== aboveB) return aboveA ? -1 : 1
  const d = aboveA ? state.placement.util[b]! - state.placement.util[a]! : state.placement.util[a]! - state.placement.util[b]!
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
  const slots = state.placement.slotCount
  return slots > 0 ? Math.max(1, (state.model.totals[2]! / slots) * 0.01) : 1
}

/** groupsOfUpToTwo lists every single slot and every pair of slots of `slots`, in order. */
function groupsOfUpToTwo(slots: readonly number[]): number[][] {
  const out: number[][] = slots.map((x) => [x])
  for (let i = 0; i < slots.length; i++) for (let j = i + 1; j < slots.length; j++) out.push([slots[i]!, slots[j]!])
  return out
}
