/**
 * ReceiverIndex keeps the nodes that may receive replicas sorted by utilisation (ties by
 * node index), once over all nodes and once per zone, so the least-loaded feasible
 * destination is found by walking from the front of the right list: with replicas spread
 * over zones a replica can usually only go to a few zones, and the first node there
 * usually fits. {@link update} puts one node in its new place by binary search (a move
 * shifts two nodes' utilisation by one replica's load).
 */
export class ReceiverIndex {
  private readonly all: SortedNodes
  private readonly zones: SortedNodes[]

  /** ReceiverIndex indexes every node `i` with `receiver[i]`, ordered by `util[i]`, and per zone `zoneOf[i]`. */
  constructor(
    util: Float64Array,
    receiver: Uint8Array,
    private readonly zoneOf: Int32Array,
    zoneCount: number,
  ) {
    const members: number[] = []
    const byZone: number[][] = Array.from({length: zoneCount}, () => [])
    for (let i = 0; i < receiver.length; i++) {
      if (!receiver[i]) continue
      members.push(i)
      byZone[zoneOf[i]!]!.push(i)
    }
    this.all = new SortedNodes(util, members, receiver.length)
    this.zones = byZone.map((m) => new SortedNodes(util, m, receiver.length))
  }

  /** nodes is every receiver, least utilised first; callers must not mutate it. */
  get nodes(): readonly number[] {
    return this.all.order
  }

  /** zoneCount is the number of zones (some may have no receivers). */
  get zoneCount(): number {
    return this.zones.length
  }

  /** inZone is zone `z`'s receivers, least utilised first; callers must not mutate it. */
  inZone(z: number): readonly number[] {
    return this.zones[z]!.order
  }

  /** update moves `node` to its place after its utilisation changed; a node not indexed is ignored. */
  update(node: number): void {
    if (this.all.update(node)) this.zones[this.zoneOf[node]!]!.update(node)
  }
}

/**
 * SortedNodes is one list of node indices kept sorted by (utilisation, index). Each member's
 * place is found by binary search on the utilisation it was last sorted with (`key`), and a
 * moved node is spliced out and back in: the shift is a native memmove, where bubbling it
 * one place at a time cost the distance it travelled in script. In a large, even cluster one
 * replica's load spans hundreds of nodes of near-equal utilisation, so bubbling made every
 * move O(nodes) and a 10,000-node plan quadratic.
 */
class SortedNodes {
  readonly order: number[]
  /** key[node]: the utilisation `node` is sorted by (its utilisation at its last update); NaN when not a member. */
  private readonly key: Float64Array

  constructor(
    private readonly util: Float64Array,
    members: number[],
    nodeCount: number,
  ) {
    this.order = members.sort((a, b) => (this.util[a]! - this.util[b]! || a - b))
    this.key = new Float64Array(nodeCount).fill(Number.NaN)
    for (const node of this.order) this.key[node] = this.util[node]!
  }

  /** update moves `node` to its place after its utilisation changed; returns false when the node is not in this list. */
  update(node: number): boolean {
    const old = this.key[node]!
    if (Number.isNaN(old)) return false
    const now = this.util[node]!
    if (now === old) return true
    this.order.splice(this.firstAtOrAfter(old, node), 1)
    this.key[node] = now
    this.order.splice(this.firstAtOrAfter(now, node), 0, node)
    return true
  }

  /** firstAtOrAfter is the first position whose (key, index) is not below (u, node). */
  private firstAtOrAfter(u: number, node: number): number {
    const {order, key} = this
    let lo = 0
    let hi = order.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      const other = order[mid]!
      const k = key[other]!
      if (k < u || (k === u && other < node)) lo = mid + 1
      else hi = mid
    }
    return lo
  }
}
