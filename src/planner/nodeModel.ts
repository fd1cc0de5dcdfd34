import {type PlanOptions} from '../model/plan.js'
import {RESOURCES} from '../model/resources.js'
import {type ClusterSnapshot} from '../model/snapshot.js'

/** RES is the number of balanced resources (reads, writes, bytes), in {@link RESOURCES} order. */
export const RES = RESOURCES.length

type SnapshotNode = ClusterSnapshot['nodes'][number]

/**
 * NodeModel is the immutable half of the planner's model: the nodes (sorted by id and
 * numbered 0..N-1), their zones, states and capacities, and the normalisation that turns a
 * replica's load into utilisation. Nothing a move or a split does changes it, so a cloned
 * placement shares it.
 *
 * Utilisation of node n: U(n) = sum over resources r of ŵ_r * load_r(n) / fairShare_r(n),
 * where fairShare_r(n) = L_r * cap_r(n) / C_r (L_r the cluster's total load, C_r the total
 * capacity of the nodes that keep data) and ŵ the user's weights normalised over resources
 * that carry load. U = 1 is the node's fair share: the cluster mean. A node's absent
 * capacity for a resource is the mean of the stated ones (1 when none is stated): uniform.
 */
export class NodeModel {
  readonly nodeIds: string[]
  readonly nodeIndex = new Map<string, number>()
  readonly nodeZone: Int32Array
  readonly zoneNames: string[] = []
  readonly nodeState: SnapshotNode['state'][]
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
  readonly rf: number
  /** requiredZones: the zone spread every shard must keep, min(rf, zones with a receiver). */
  readonly requiredZones: number
  /** target and floor bound the band [floor, target] around the mean of 1. */
  readonly target: number
  readonly floor: number
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
  /** totals[r]: the cluster's total load of resource r. */
  readonly totals: Float64Array
  /** weights[r]: the user's weight of resource r normalised over the resources that carry load. */
  readonly weights: Float64Array
  /** minFactor[r]: the smallest factor among receivers (the biggest node's), 0 when none receives. */
  readonly minFactor: Float64Array

  /**
   * NodeModel builds the model of `nodes` (already sorted by id, with at least one not
   * draining) for a cluster of replication factor `rf` whose total load per resource is
   * `totals`.
   */
  constructor(nodes: readonly SnapshotNode[], rf: number, options: PlanOptions, totals: Float64Array) {
    const n = nodes.length
    this.nodeIds = nodes.map((x) => x.id)
    nodes.forEach((x, i) => this.nodeIndex.set(x.id, i))
    const zoneIds = new Map<string, number>()
    for (const z of [...new Set(nodes.map((x) => x.zone))].sort()) {
      zoneIds.set(z, this.zoneNames.length)
      this.zoneNames.push(z)
    }
    this.nodeZone = Int32Array.from(nodes, (x) => zoneIds.get(x.zone) ?? 0)
    this.nodeState = nodes.map((x) => x.state)
    this.alive = Uint8Array.from(nodes, (x) => (x.alive ? 1 : 0))
    this.receiver = Uint8Array.from(nodes, (x) => (x.alive && x.state === 'active' ? 1 : 0))
    this.inPool = Uint8Array.from(nodes, (x) => (x.state !== 'draining' ? 1 : 0))
    this.poolSize = this.inPool.reduce((a, b) => a + b, 0)
    this.rf = rf
    const receiverZones = new Set<number>()
    for (let i = 0; i < n; i++) if (this.receiver[i]) receiverZones.add(this.nodeZone[i] ?? 0)
    this.requiredZones = Math.min(rf, receiverZones.size)
    this.target = options.maxImbalance
    this.totals = totals
    const {limit, cap, capTotal} = capacities(nodes, this.inPool)
    this.capLimit = limit
    this.weights = normalisedWeights(totals, options.weights)
    this.factor = new Float64Array(n * RES)
    this.shareScale = new Float64Array(n * RES)
    this.kappa = new Float64Array(n)
    this.unitLoad = new Float64Array(RES)
    this.normalise(cap, capTotal, options.weights)
    // A cluster with no load in any weighted resource (a fresh one, before stats) has every
    // node at 0x "the mean" of nothing: with a floor there, every node would be under the
    // band and no plan could ever reach it. Nothing to balance is within target.
    this.floor = this.weights.some((w) => w > 0) ? Math.max(0, 2 - options.maxImbalance) : 0
    this.minFactor = this.receiverMinFactors()
  }

  /** nodeCount is the number of nodes. */
  get nodeCount(): number {
    return this.nodeIds.length
  }

  private normalise(cap: Float64Array, capTotal: Float64Array, userWeights: PlanOptions['weights']): void {
    let weightSum = 0
    RESOURCES.forEach((res, r) => {
      if ((this.totals[r] ?? 0) > 0) weightSum += userWeights[res]
    })
    for (let r = 0; r < RES; r++) {
      const total = this.totals[r] ?? 0
      if (total > 0) this.unitLoad[r] = ((this.weights[r] ?? 0) * this.poolSize) / total
    }
    for (let i = 0; i < this.nodeCount; i++) {
      let k = 0
      for (let r = 0; r < RES; r++) {
        const c = cap[i * RES + r] ?? 0
        const total = this.totals[r] ?? 0
        const w = this.weights[r] ?? 0
        if (total > 0) {
          const scale = (capTotal[r] ?? 0) / (c * total)
          this.shareScale[i * RES + r] = scale
          this.factor[i * RES + r] = w * scale
        }
        k += w * (c / ((capTotal[r] ?? 0) / this.poolSize))
      }
      this.kappa[i] = weightSum > 0 ? k : 1
    }
  }

  private receiverMinFactors(): Float64Array {
    const out = new Float64Array(RES).fill(Infinity)
    for (let i = 0; i < this.nodeCount; i++) {
      if (!this.receiver[i]) continue
      for (let r = 0; r < RES; r++) out[r] = Math.min(out[r] ?? Infinity, this.factor[i * RES + r] ?? 0)
    }
    for (let r = 0; r < RES; r++) if (out[r] === Infinity) out[r] = 0
    return out
  }
}

/** capacities returns the stated limits (Infinity when absent), the capacities used for fair shares (absent: the mean of the stated ones, else 1) and their totals over the pool. */
function capacities(nodes: readonly SnapshotNode[], inPool: Uint8Array): {limit: Float64Array; cap: Float64Array; capTotal: Float64Array} {
  const n = nodes.length
  const limit = new Float64Array(n * RES).fill(Infinity)
  const cap = new Float64Array(n * RES)
  const capTotal = new Float64Array(RES)
  RESOURCES.forEach((res, r) => {
    const stated = nodes.map((x) => x.capacity[res]).filter((v): v is number => v !== undefined)
    const fallback = stated.length > 0 ? stated.reduce((a, b) => a + b, 0) / stated.length : 1
    nodes.forEach((x, i) => {
      const c = x.capacity[res]
      if (c !== undefined) limit[i * RES + r] = c
      cap[i * RES + r] = c ?? fallback
      if (inPool[i]) capTotal[r] = (capTotal[r] ?? 0) + (cap[i * RES + r] ?? 0)
    })
  })
  return {limit, cap, capTotal}
}

/** normalisedWeights scales the user's weights to sum to 1 over the resources that carry load (all 0 when none does). */
function normalisedWeights(totals: Float64Array, userWeights: PlanOptions['weights']): Float64Array {
  const weights = new Float64Array(RES)
  let weightSum = 0
  RESOURCES.forEach((res, r) => {
    if ((totals[r] ?? 0) > 0) weightSum += userWeights[res]
  })
  RESOURCES.forEach((res, r) => {
    weights[r] = (totals[r] ?? 0) > 0 && weightSum > 0 ? userWeights[res] / weightSum : 0
  })
  return weights
}
