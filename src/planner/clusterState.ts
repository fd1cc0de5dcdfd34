import {UserError} from '../errors/errors.js'
import {EPOCH_STEPS, type PlanOptions} from '../model/plan.js'
import {RESOURCES} from '../model/resources.js'
import {type ClusterSnapshot} from '../model/snapshot.js'

/** RES is the number of balanced resources (reads, writes, bytes), in {@link RESOURCES} order. */
export const RES = RESOURCES.length
/** LOAD_WIDTH: per-slot and per-node load vectors are reads, writes, bytes, keys. */
export const LOAD_WIDTH = 4
/** KEYS_AT is the index of `keys` in a load vector. */
export const KEYS_AT = 3
/** BYTES_AT is the index of `bytes` in a load vector. */
export const BYTES_AT = 2

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
 * ClusterState is the planner's mutable, array-based model of a snapshot: nodes sorted by
 * id and numbered 0..N-1, shards numbered in id order, and one "slot" per replica. Loads
 * and utilisation are kept per node and updated incrementally by {@link moveSlot} and
 * {@link splitShard}, so evaluating a move costs O(rf + resources), not O(cluster).
 *
 * Utilisation of node n: U(n) = sum over resources r of ŵ_r * load_r(n) / fairShare_r(n),
 * where fairShare_r(n) = L_r * cap_r(n) / C_r (L_r the cluster's total load, C_r the total
 * capacity of the nodes that keep data) and ŵ the user's weights normalised over resources
 * that carry load. U = 1 is the node's fair share: the cluster mean. A node's absent
 * capacity for a resource is the mean of the stated ones (1 when none is stated): uniform.
 */
export class ClusterState {
  readonly nodeIds: string[]
  readonly nodeIndex = new Map<string, number>()
  readonly nodeZone: Int32Array
  readonly zoneNames: string[] = []
  readonly nodeState: ClusterSnapshot['nodes'][number]['state'][]
  readonly alive: Uint8Array
  /** receiver: active and alive, so it may receive replicas. */
  readonly receiver: Uint8Array
  /**
   * inPool: not draining: the nodes that keep data and define the mean. A node that is down
   * stays in the pool (it still holds its replicas; a move off it copies from the others) but
   * receives nothing.
   */
  readonly inPool: Uint8Array
  readonly poolSize: number
  /** capLimit: stated capacity per node and resource (Infinity when not stated): a hard limit. */
  readonly capLimit: Float64Array
  /** factor[n*RES+r]: how much one unit of resource r raises U(n). */
  readonly factor: Float64Array
  /** kappa[n]: node n's size in average-node units (its fair share of the cluster's load). */
  readonly kappa: Float64Array
  /** unitLoad[r]: average-node units per unit of resource r. */
  readonly unitLoad: Float64Array
  /** shareScale[n*RES+r]: load_r(n) times this is node n's utilisation of r alone. */
  readonly shareScale: Float64Array
  readonly totals: Float64Array
  readonly weights: Float64Array
  readonly rf: number
  readonly requiredZones: number
  readonly target: number
  readonly floor: number

  readonly nodeLoad: Float64Array
  readonly util: Float64Array
  readonly nodeSlots: number[][]
  readonly slotPos: number[] = []

  readonly shardId: number[] = []
  readonly shardEpoch: number[] = []
  readonly shardLo: number[] = []
  readonly shardHi: number[] = []
  readonly shardFrozen: boolean[] = []
  readonly shardSlots: number[][] = []
  /** shardSample[s]: the key-hash samples of shard s's replicas merged and sorted (see ReplicaLoad.keySample); split pieces share their parent's. */
  readonly shardSample: (readonly number[] | undefined)[] = []
  readonly shardIndex = new Map<number, number>()
  nextShardId: number

  readonly slotShard: number[] = []
  readonly slotNode: number[] = []
  /** slotLoad[slot*LOAD_WIDTH+k]: the replica's reads, writes, bytes, keys; grown by {@link splitShard}. */
  slotLoad: Float64Array = new Float64Array(0)

  private readonly pinned = new Set<number>()
  private readonly forbidden = new Set<number>()
  /** pins lists the (shard index, node) pins, for the constraint phase. */
  readonly pins: {shard: number; node: number}[] = []

  /**
   * ClusterState builds the model. Throws UserError UNREACHABLE_TARGET when every node is
   * draining.
   */
  constructor(snapshot: ClusterSnapshot, options: PlanOptions) {
    const nodes = [...snapshot.nodes].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
    const n = nodes.length
    this.nodeIds = nodes.map((x) => x.id)
    nodes.forEach((x, i) => this.nodeIndex.set(x.id, i))
    this.nodeZone = new Int32Array(n)
    const zoneIds = new Map<string, number>()
    for (const z of [...new Set(nodes.map((x) => x.zone))].sort()) {
      zoneIds.set(z, this.zoneNames.length)
      this.zoneNames.push(z)
    }
    nodes.forEach((x, i) => (this.nodeZone[i] = zoneIds.get(x.zone)!))
    this.nodeState = nodes.map((x) => x.state)
    this.alive = Uint8Array.from(nodes, (x) => (x.alive ? 1 : 0))
    this.receiver = Uint8Array.from(nodes, (x) => (x.alive && x.state === 'active' ? 1 : 0))
    this.inPool = Uint8Array.from(nodes, (x) => (x.state !== 'draining' ? 1 : 0))
    this.poolSize = this.inPool.reduce((a, b) => a + b, 0)
    if (this.poolSize === 0) {
      throw new UserError('UNREACHABLE_TARGET', 'every node is draining: none is left to hold the data', 'add a node, or stop draining one')
    }
    this.rf = snapshot.cluster.rf
    const receiverZones = new Set<number>()
    for (let i = 0; i < n; i++) if (this.receiver[i]) receiverZones.add(this.nodeZone[i]!)
    this.requiredZones = Math.min(this.rf, receiverZones.size)
    this.target = options.maxImbalance
    this.floor = Math.max(0, 2 - options.maxImbalance)

    this.nodeLoad = new Float64Array(n * LOAD_WIDTH)
    this.util = new Float64Array(n)
    this.nodeSlots = Array.from({length: n}, () => [])
    this.nextShardId = snapshot.cluster.nextShardId

    this.loadShards(snapshot)
    for (const c of snapshot.constraints) {
      const s = this.shardIndex.get(c.shard)
      const node = this.nodeIndex.get(c.node)
      if (s === undefined || node === undefined) continue
      const key = s * n + node
      if (c.kind === 'pin') {
        if (!this.pinned.has(key)) this.pins.push({shard: s, node})
        this.pinned.add(key)
      } else {
        this.forbidden.add(key)
      }
    }

    // Normalisation: totals, capacities, weights.
    this.totals = new Float64Array(RES)
    for (let slot = 0; slot < this.slotShard.length; slot++) for (let r = 0; r < RES; r++) this.totals[r]! += this.slotLoad[slot * LOAD_WIDTH + r]!
    this.capLimit = new Float64Array(n * RES).fill(Infinity)
    const cap = new Float64Array(n * RES)
    const capTotal = new Float64Array(RES)
    RESOURCES.forEach((res, r) => {
      const stated = nodes.map((x) => x.capacity[res]).filter((v): v is number => v !== undefined)
      const fallback = stated.length > 0 ? stated.reduce((a, b) => a + b, 0) / stated.length : 1
      nodes.forEach((x, i) => {
        const c = x.capacity[res]
        if (c !== undefined) this.capLimit[i * RES + r] = c
        cap[i * RES + r] = c ?? fallback
        if (this.inPool[i]) capTotal[r]! += cap[i * RES + r]!
      })
    })
    this.weights = new Float64Array(RES)
    let weightSum = 0
    RESOURCES.forEach((res, r) => {
      if (this.totals[r]! > 0) weightSum += options.weights[res]
    })
    RESOURCES.forEach((res, r) => {
      this.weights[r] = this.totals[r]! > 0 && weightSum > 0 ? options.weights[res] / weightSum : 0
    })
    this.factor = new Float64Array(n * RES)
    this.shareScale = new Float64Array(n * RES)
    this.kappa = new Float64Array(n)
    this.unitLoad = new Float64Array(RES)
    for (let r = 0; r < RES; r++) if (this.totals[r]! > 0) this.unitLoad[r] = (this.weights[r]! * this.poolSize) / this.totals[r]!
    for (let i = 0; i < n; i++) {
      let k = 0
      for (let r = 0; r < RES; r++) {
        const c = cap[i * RES + r]!
        if (this.totals[r]! > 0) {
          this.shareScale[i * RES + r] = capTotal[r]! / (c * this.totals[r]!)
          this.factor[i * RES + r] = this.weights[r]! * this.shareScale[i * RES + r]!
        }
        k += this.weights[r]! * (c / (capTotal[r]! / this.poolSize))
      }
      this.kappa[i] = weightSum > 0 ? k : 1
    }
    for (let slot = 0; slot < this.slotShard.length; slot++) this.addLoad(this.slotNode[slot]!, slot, 1)
  }

  private loadShards(snapshot: ClusterSnapshot): void {
    let sorted = true
    for (let i = 1; i < snapshot.shards.length && sorted; i++) sorted = snapshot.shards[i - 1]!.id < snapshot.shards[i]!.id
    const shards = sorted ? snapshot.shards : [...snapshot.shards].sort((a, b) => a.id - b.id)
    let replicas = 0
    for (const shard of shards) replicas += shard.replicas.length
    this.slotLoad = new Float64Array(replicas * LOAD_WIDTH)
    for (const shard of shards) {
      const s = this.shardId.length
      this.shardIndex.set(shard.id, s)
      this.shardId.push(shard.id)
      this.shardEpoch.push(shard.epoch)
      this.shardLo.push(shard.range.lo)
      this.shardHi.push(shard.range.hi)
      // A shard in the middle of a move is the executor's; the planner leaves it alone.
      let frozen = false
      for (const r of shard.replicas) if (r.role !== 'voter') frozen = true
      this.shardFrozen.push(frozen)
      const slots: number[] = []
      this.shardSlots.push(slots)
      this.shardSample.push(undefined)
      for (const replica of shard.replicas) {
        const node = this.nodeIndex.get(replica.node)!
        const slot = this.slotShard.length
        this.slotShard.push(s)
        this.slotNode.push(node)
        slots.push(slot)
        this.slotPos.push(this.nodeSlots[node]!.length)
        this.nodeSlots[node]!.push(slot)
      }
    }
    const known = new Uint8Array(this.slotShard.length)
    for (const l of snapshot.load) {
      const s = this.shardIndex.get(l.shard)
      const node = this.nodeIndex.get(l.node)
      if (s === undefined || node === undefined) continue
      for (const slot of this.shardSlots[s]!) {
        if (this.slotNode[slot] !== node) continue
        const at = slot * LOAD_WIDTH
        this.slotLoad[at] = l.reads
        this.slotLoad[at + 1] = l.writes
        this.slotLoad[at + 2] = l.bytes
        this.slotLoad[at + 3] = l.keys
        known[slot] = 1
      }
      if (l.keySample && l.keySample.length > 0) this.shardSample[s] = [...(this.shardSample[s] ?? []), ...l.keySample].sort((a, b) => a - b)
    }
    // Replicas without published stats are estimated as the mean of the shard's other replicas.
    for (let s = 0; s < this.shardSlots.length; s++) {
      const slots = this.shardSlots[s]!
      let reported = 0
      for (const slot of slots) reported += known[slot]!
      if (reported === 0 || reported === slots.length) continue
      const missing = slots.filter((slot) => !known[slot])
      const reporting = slots.length - missing.length
      for (let k = 0; k < LOAD_WIDTH; k++) {
        let sum = 0
        for (const slot of slots) if (known[slot]) sum += this.slotLoad[slot * LOAD_WIDTH + k]!
        for (const slot of missing) this.slotLoad[slot * LOAD_WIDTH + k] = sum / reporting
      }
    }
  }

  private addLoad(node: number, slot: number, sign: 1 | -1): void {
    let du = 0
    for (let k = 0; k < LOAD_WIDTH; k++) this.nodeLoad[node * LOAD_WIDTH + k]! += sign * this.slotLoad[slot * LOAD_WIDTH + k]!
    for (let r = 0; r < RES; r++) du += this.factor[node * RES + r]! * this.slotLoad[slot * LOAD_WIDTH + r]!
    this.util[node]! += sign * du
  }

  /**
   * clone returns an independent copy: what moves and splits change is copied, what they
   * never change (nodes, capacities, factors) is shared. Cheaper than rebuilding from the
   * snapshot when a second strategy runs on the same input (the ring baseline).
   */
  clone(): ClusterState {
    const copy = Object.create(ClusterState.prototype) as ClusterState
    Object.assign(copy, this, {
      nodeLoad: this.nodeLoad.slice(),
      util: this.util.slice(),
      nodeSlots: this.nodeSlots.map((l) => l.slice()),
      slotPos: this.slotPos.slice(),
      shardId: this.shardId.slice(),
      shardEpoch: this.shardEpoch.slice(),
      shardLo: this.shardLo.slice(),
      shardHi: this.shardHi.slice(),
      shardFrozen: this.shardFrozen.slice(),
      shardSlots: this.shardSlots.map((l) => l.slice()),
      shardSample: this.shardSample.slice(),
      shardIndex: new Map(this.shardIndex),
      slotShard: this.slotShard.slice(),
      slotNode: this.slotNode.slice(),
      slotLoad: this.slotLoad.slice(),
      pinned: new Set(this.pinned),
      forbidden: new Set(this.forbidden),
      pins: this.pins.map((p) => ({...p})),
    })
    return copy
  }

  /** nodeCount is the number of nodes. */
  get nodeCount(): number {
    return this.nodeIds.length
  }

  /** utilDelta is how much slot `slot`'s load changes U(node) (removed from or added to it). */
  utilDelta(slot: number, node: number): number {
    let du = 0
    for (let r = 0; r < RES; r++) du += this.factor[node * RES + r]! * this.slotLoad[slot * LOAD_WIDTH + r]!
    return du
  }

  /**
   * minUtilDelta is a lower bound of {@link utilDelta} over every receiver: per resource the
   * smallest factor among receivers (the biggest node's). Exact when capacities are equal.
   */
  minUtilDelta(slot: number): number {
    const f = (this.minFactorCache ??= this.receiverMinFactors())
    let du = 0
    for (let r = 0; r < RES; r++) du += f[r]! * this.slotLoad[slot * LOAD_WIDTH + r]!
    return du
  }

  private minFactorCache: Float64Array | undefined

  private receiverMinFactors(): Float64Array {
    const out = new Float64Array(RES).fill(Infinity)
    for (let i = 0; i < this.nodeCount; i++) {
      if (!this.receiver[i]) continue
      for (let r = 0; r < RES; r++) out[r] = Math.min(out[r]!, this.factor[i * RES + r]!)
    }
    for (let r = 0; r < RES; r++) if (out[r] === Infinity) out[r] = 0
    return out
  }

  /** slotUnits is slot `slot`'s load in average-node units (independent of where it sits). */
  slotUnits(slot: number): number {
    let u = 0
    for (let r = 0; r < RES; r++) u += this.unitLoad[r]! * this.slotLoad[slot * LOAD_WIDTH + r]!
    return u
  }

  /** slotBytes is the data a move of slot `slot` copies. */
  slotBytes(slot: number): number {
    return this.slotLoad[slot * LOAD_WIDTH + BYTES_AT]!
  }

  /** slotKeys is the number of keys slot `slot` holds. */
  slotKeys(slot: number): number {
    return this.slotLoad[slot * LOAD_WIDTH + KEYS_AT]!
  }

  /** dominantResource is the resource whose weighted load in `slot` is largest on `node` (ties: first). */
  dominantResource(slot: number, node: number): (typeof RESOURCES)[number] {
    let best = 0
    let bestValue = -1
    for (let r = 0; r < RES; r++) {
      const v = this.factor[node * RES + r]! * this.slotLoad[slot * LOAD_WIDTH + r]!
      if (v > bestValue) {
        bestValue = v
        best = r
      }
    }
    return RESOURCES[best]!
  }

  /** outside is node n's load outside the target band [floor, target], in average-node units (0 for nodes outside the pool). */
  outside(n: number): number {
    return this.outsideAt(n, this.util[n]!)
  }

  /** outsideAt is what {@link outside} would be for node n at utilisation u. */
  outsideAt(n: number, u: number): number {
    if (!this.inPool[n]) return 0
    if (u > this.target + UTIL_EPSILON) return (u - this.target) * this.kappa[n]!
    if (this.receiver[n] && u < this.floor - UTIL_EPSILON) return (this.floor - u) * this.kappa[n]!
    return 0
  }

  /** isPinned tells whether slot `slot`'s replica is pinned to its node. */
  isPinned(slot: number): boolean {
    return this.pinned.has(this.slotShard[slot]! * this.nodeCount + this.slotNode[slot]!)
  }

  /** isForbidden tells whether shard index `s` is forbidden on node `node`. */
  isForbidden(s: number, node: number): boolean {
    return this.forbidden.has(s * this.nodeCount + node)
  }

  /** movable tells whether the planner may move slot `slot` at all (not pinned, shard not mid-move). */
  movable(slot: number): boolean {
    return !this.shardFrozen[this.slotShard[slot]!] && !this.isPinned(slot)
  }

  /** holds tells whether node `node` holds a replica of shard index `s`. */
  holds(s: number, node: number): boolean {
    for (const slot of this.shardSlots[s]!) if (this.slotNode[slot] === node) return true
    return false
  }

  /** zoneCount is the number of distinct zones shard `s`'s replicas span, optionally with `slot`'s replica in zone `zone` instead. */
  zoneCount(s: number, slot = -1, zone = -1): number {
    let mask = 0
    let wide: number[] | undefined
    for (const other of this.shardSlots[s]!) {
      const z = other === slot ? zone : this.nodeZone[this.slotNode[other]!]!
      if (z < 31) mask |= 1 << z
      else if (!(wide ??= []).includes(z)) wide.push(z)
    }
    let count = wide?.length ?? 0
    for (; mask; mask &= mask - 1) count++
    return count
  }

  /** hasForbids tells whether any forbid constraint exists (most clusters have none; scans skip then). */
  get hasForbids(): boolean {
    return this.forbidden.size > 0
  }

  /**
   * blockReason returns why slot `slot` may not move to node `to`, or undefined when the
   * move keeps every placement rule: distinct nodes, zone spread never below
   * min(current, required), forbidden nodes, cordoned/draining/down nodes, stated capacity.
   */
  blockReason(slot: number, to: number): BlockReason | undefined {
    const from = this.slotNode[slot]!
    if (from === to) return 'self'
    if (!this.receiver[to]) return 'cannot-receive'
    const s = this.slotShard[slot]!
    if (this.holds(s, to)) return 'holds-replica'
    if (this.forbidden.size > 0 && this.isForbidden(s, to)) return 'forbidden'
    if (this.nodeZone[to] !== this.nodeZone[from]) {
      const before = this.zoneCount(s)
      if (this.zoneCount(s, slot, this.nodeZone[to]!) < Math.min(before, this.requiredZones)) return 'zone'
    }
    for (let r = 0; r < RES; r++) {
      const limit = this.capLimit[to * RES + r]!
      if (limit !== Infinity && this.nodeLoad[to * LOAD_WIDTH + r]! + this.slotLoad[slot * LOAD_WIDTH + r]! > limit) return 'capacity'
    }
    return undefined
  }

  /** overCapacity tells whether node `n` exceeds one of its stated capacities. */
  overCapacity(n: number): boolean {
    for (let r = 0; r < RES; r++) if (this.nodeLoad[n * LOAD_WIDTH + r]! > this.capLimit[n * RES + r]!) return true
    return false
  }

  /** moveSlot moves slot `slot`'s replica to node `to` and advances the shard's epoch as a move does. Callers check {@link blockReason} first. */
  moveSlot(slot: number, to: number): void {
    const from = this.slotNode[slot]!
    this.addLoad(from, slot, -1)
    const list = this.nodeSlots[from]!
    const pos = this.slotPos[slot]!
    const last = list.pop()!
    if (last !== slot) {
      list[pos] = last
      this.slotPos[last] = pos
    }
    this.slotNode[slot] = to
    this.slotPos[slot] = this.nodeSlots[to]!.length
    this.nodeSlots[to]!.push(slot)
    this.addLoad(to, slot, 1)
    this.shardEpoch[this.slotShard[slot]!]! += EPOCH_STEPS.move
  }

  /**
   * splitShard cuts shard index `s` at hash `at` into itself [lo, at) and a new shard
   * [at, hi) with the next shard id, same nodes. Each replica's reads and writes go
   * `below` to the lower piece and the rest to the upper one (the share of sampled requests
   * below `at`; 0.5 when unknown); bytes and keys are halved (no finer figure exists).
   * Returns the new shard's index. Node loads are unchanged.
   */
  splitShard(s: number, at: number, below = 0.5): number {
    const t = this.shardId.length
    const newId = this.nextShardId++
    this.shardIndex.set(newId, t)
    this.shardId.push(newId)
    this.shardEpoch[s]! += EPOCH_STEPS.split
    this.shardEpoch.push(this.shardEpoch[s]!)
    this.shardLo.push(at)
    this.shardHi.push(this.shardHi[s]!)
    this.shardHi[s] = at
    this.shardFrozen.push(false)
    this.shardSlots.push([])
    this.shardSample.push(this.shardSample[s])
    const n = this.nodeCount
    const needed = (this.slotShard.length + this.shardSlots[s]!.length) * LOAD_WIDTH
    if (needed > this.slotLoad.length) {
      // Doubling keeps a run of splits linear in the replicas.
      const grown = new Float64Array(Math.max(needed, 2 * this.slotLoad.length))
      grown.set(this.slotLoad)
      this.slotLoad = grown
    }
    for (const slot of this.shardSlots[s]!) {
      const node = this.slotNode[slot]!
      const copy = this.slotShard.length
      this.slotShard.push(t)
      this.slotNode.push(node)
      for (let k = 0; k < LOAD_WIDTH; k++) {
        const share = k < BYTES_AT ? below : 0.5
        const whole = this.slotLoad[slot * LOAD_WIDTH + k]!
        this.slotLoad[slot * LOAD_WIDTH + k] = whole * share
        this.slotLoad[copy * LOAD_WIDTH + k] = whole - whole * share
      }
      this.shardSlots[t]!.push(copy)
      this.slotPos.push(this.nodeSlots[node]!.length)
      this.nodeSlots[node]!.push(copy)
    }
    // Constraints name the shard; both halves inherit them.
    for (let node = 0; node < n; node++) {
      if (this.pinned.has(s * n + node)) {
        this.pinned.add(t * n + node)
        this.pins.push({shard: t, node})
      }
      if (this.forbidden.has(s * n + node)) this.forbidden.add(t * n + node)
    }
    return t
  }
}
