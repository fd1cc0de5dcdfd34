import {UserError} from '../errors/errors.js'
import {type PlanOptions} from '../model/plan.js'
import {RESOURCES} from '../model/resources.js'
import {type ClusterSnapshot} from '../model/snapshot.js'
import {NodeModel, RES} from './nodeModel.js'
import {BYTES_AT, KEYS_AT, LOAD_WIDTH, Placement} from './placement.js'

export {BYTES_AT, KEYS_AT, LOAD_WIDTH, RES}

/** UTIL_EPSILON absorbs float drift of incrementally updated utilisation: closer than this to the band counts as inside. */
export const UTIL_EPSILON = 1e-9

/**
 * BlockReason says why a replica may not be placed on a node:
 * `self` it is already there; `cannot-receive` the node is cordoned, draining or down;
 * `holds-replica` the node already holds a replica of the shard; `forbidden` a constraint
 * forbids the shard there; `zone` the move would break the zone spread; `capacity` the
 * node would exceed one of its stated capacities.
 */
export type BlockReason = 'self' | 'cannot-receive' | 'holds-replica' | 'forbidden' | 'zone' | 'capacity'

/**
 * ClusterState is what the planner's phases work on: an immutable {@link NodeModel} (nodes,
 * zones, capacities, normalisation) and a mutable {@link Placement} (where each replica, or
 * "slot", sits and what it carries), plus the placement rules and measures that need both
 * (block reasons, utilisation deltas, distance from the band). Nodes are numbered 0..N-1 in
 * id order, shards in id order, slots shard by shard. A clone copies the placement and
 * shares the model.
 *
 * Facts are read where they live, `state.model.nodeIds`, `state.placement.util`: this class
 * adds only what needs both halves, so neither half's accessors are repeated here.
 */
export class ClusterState {
  /**
   * ClusterState builds the model. Throws UserError UNREACHABLE_TARGET when every node is
   * draining, UserError BAD_INPUT when a replica names a node the snapshot does not list.
   */
  static fromSnapshot(snapshot: ClusterSnapshot, options: PlanOptions): ClusterState {
    const nodes = [...snapshot.nodes].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
    if (nodes.every((x) => x.state === 'draining')) {
      throw new UserError('UNREACHABLE_TARGET', 'every node is draining: none is left to hold the data', 'add a node, or stop draining one')
    }
    const nodeIndex = new Map(nodes.map((x, i) => [x.id, i]))
    const read = Placement.read(snapshot, nodeIndex)
    const model = new NodeModel(nodes, snapshot.cluster.rf, options, read.totals)
    return new ClusterState(model, read.over(model))
  }

  private constructor(
    readonly model: NodeModel,
    readonly placement: Placement,
  ) {}

  /** clone returns an independent copy: the placement is copied, the node model shared. */
  clone(): ClusterState {
    return new ClusterState(this.model, this.placement.clone())
  }

  /** capLimitAt is node `node`'s stated capacity for resource `r` (Infinity when not stated). */
  capLimitAt(node: number, r: number): number {
    return this.model.capLimit[node * RES + r] ?? Infinity
  }

  /** utilDelta is how much slot `slot`'s load changes U(node) (removed from or added to it). */
  utilDelta(slot: number, node: number): number {
    const factor = this.model.factor
    let du = 0
    for (let r = 0; r < RES; r++) du += (factor[node * RES + r] ?? 0) * this.placement.slotLoadAt(slot, r)
    return du
  }

  /**
   * minUtilDelta is a lower bound of {@link utilDelta} over every receiver: per resource the
   * smallest factor among receivers (the biggest node's). Exact when capacities are equal.
   */
  minUtilDelta(slot: number): number {
    const f = this.model.minFactor
    let du = 0
    for (let r = 0; r < RES; r++) du += (f[r] ?? 0) * this.placement.slotLoadAt(slot, r)
    return du
  }

  /** slotUnits is slot `slot`'s load in average-node units (independent of where it sits). */
  slotUnits(slot: number): number {
    const unitLoad = this.model.unitLoad
    let u = 0
    for (let r = 0; r < RES; r++) u += (unitLoad[r] ?? 0) * this.placement.slotLoadAt(slot, r)
    return u
  }

  /** slotBytes is the data a move of slot `slot` copies. */
  slotBytes(slot: number): number {
    return this.placement.slotLoadAt(slot, BYTES_AT)
  }

  /** slotKeys is the number of keys slot `slot` holds. */
  slotKeys(slot: number): number {
    return this.placement.slotLoadAt(slot, KEYS_AT)
  }

  /** dominantResource is the resource whose weighted load in `slot` is largest on `node` (ties: first). */
  dominantResource(slot: number, node: number): (typeof RESOURCES)[number] {
    let best = 0
    let bestValue = -1
    for (let r = 0; r < RES; r++) {
      const v = (this.model.factor[node * RES + r] ?? 0) * this.placement.slotLoadAt(slot, r)
      if (v > bestValue) {
        bestValue = v
        best = r
      }
    }
    return RESOURCES[best] ?? 'reads'
  }

  /** outside is node n's load outside the target band [floor, target], in average-node units (0 for nodes outside the pool). */
  outside(n: number): number {
    return this.outsideAt(n, this.placement.util[n] ?? 0)
  }

  /** outsideAt is what {@link outside} would be for node n at utilisation u. */
  outsideAt(n: number, u: number): number {
    const m = this.model
    if (!m.inPool[n]) return 0
    if (u > m.target + UTIL_EPSILON) return (u - m.target) * (m.kappa[n] ?? 0)
    if (m.receiver[n] && u < m.floor - UTIL_EPSILON) return (m.floor - u) * (m.kappa[n] ?? 0)
    return 0
  }

  /** isPinned tells whether slot `slot`'s replica is pinned to its node. */
  isPinned(slot: number): boolean {
    return this.placement.isPinned(this.placement.slotShard[slot] ?? 0, this.placement.slotNode[slot] ?? 0)
  }

  /** movable tells whether the planner may move slot `slot` at all (not pinned, shard not mid-move). */
  movable(slot: number): boolean {
    return !this.placement.shardFrozen[this.placement.slotShard[slot] ?? 0] && !this.isPinned(slot)
  }

  /** holds tells whether node `node` holds a replica of shard index `s`. */
  holds(s: number, node: number): boolean {
    const p = this.placement
    const first = p.firstSlot(s)
    const end = first + p.slotWidth(s)
    const slotNode = p.slotNode
    for (let slot = first; slot < end; slot++) if (slotNode[slot] === node) return true
    return false
  }

  /** zoneCount is the number of distinct zones shard `s`'s replicas span, optionally with `slot`'s replica in zone `zone` instead. */
  zoneCount(s: number, slot = -1, zone = -1): number {
    const p = this.placement
    const first = p.firstSlot(s)
    const end = first + p.slotWidth(s)
    const slotNode = p.slotNode
    const nodeZone = this.model.nodeZone
    let mask = 0
    let wide: number[] | undefined
    for (let other = first; other < end; other++) {
      const z = other === slot ? zone : (nodeZone[slotNode[other] ?? 0] ?? 0)
      if (z < 31) mask |= 1 << z
      else if (!(wide ??= []).includes(z)) wide.push(z)
    }
    let count = wide?.length ?? 0
    for (; mask; mask &= mask - 1) count++
    return count
  }

  /**
   * blockReason returns why slot `slot` may not move to node `to`, or undefined when the
   * move keeps every placement rule: distinct nodes, zone spread never below
   * min(current, required), forbidden nodes, cordoned/draining/down nodes, stated capacity.
   */
  blockReason(slot: number, to: number): BlockReason | undefined {
    const m = this.model
    const from = this.placement.slotNode[slot] ?? 0
    if (from === to) return 'self'
    if (!m.receiver[to]) return 'cannot-receive'
    const s = this.placement.slotShard[slot] ?? 0
    if (this.holds(s, to)) return 'holds-replica'
    if (this.placement.hasForbids && this.placement.isForbidden(s, to)) return 'forbidden'
    const toZone = m.nodeZone[to] ?? 0
    if (toZone !== m.nodeZone[from]) {
      const before = this.zoneCount(s)
      if (this.zoneCount(s, slot, toZone) < Math.min(before, m.requiredZones)) return 'zone'
    }
    for (let r = 0; r < RES; r++) {
      const limit = m.capLimit[to * RES + r] ?? Infinity
      if (limit !== Infinity && this.placement.nodeLoadAt(to, r) + this.placement.slotLoadAt(slot, r) > limit) return 'capacity'
    }
    return undefined
  }

  /** overCapacity tells whether node `n` exceeds one of its stated capacities. */
  overCapacity(n: number): boolean {
    for (let r = 0; r < RES; r++) if (this.placement.nodeLoadAt(n, r) > this.capLimitAt(n, r)) return true
    return false
  }
}
