/**
 * ReceiverIndex keeps the nodes that may receive replicas sorted by utilisation (ties by
 * node index), once over all nodes and once per zone, so the least-loaded feasible
 * destination is found by walking from the front of the right list: with replicas spread
 * over zones a replica can usually only go to a few zones, and the first node there
 * usually fits. {@link update} bubbles one node to its new place, costing the distance it
 * travels (a move shifts two nodes' utilisation by one replica's load, usually a short way).
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

/** SortedNodes is one list of node indices kept sorted by (utilisation, index), with each node's position. */
class SortedNodes {
  readonly order: number[]
  private readonly pos: Int32Array

  constructor(
    private readonly util: Float64Array,
    members: number[],
    nodeCount: number,
  ) {
    this.order = members.sort((a, b) => this.before(a, b) ? -1 : 1)
    this.pos = new Int32Array(nodeCount).fill(-1)
    this.order.forEach((node, i) => (this.pos[node] = i))
  }

  private before(a: number, b: number): boolean {
    const d = this.util[a]! - this.util[b]!
    return d < 0 || (d === 0 && a < b)
  }

  /** update bubbles `node` left or right to its place; returns false when the node is not in this list. */
  update(node: number): boolean {
    let i = this.pos[node]!
    if (i < 0) return false
    const order = this.order
    while (i > 0 && this.before(node, order[i - 1]!)) {
      order[i] = order[i - 1]!
      this.pos[order[i]!] = i
      i--
    }
    while (i < order.length - 1 && this.before(order[i + 1]!, node)) {
      order[i] = order[i + 1]!
      this.pos[order[i]!] = i
      i++
    }
    order[i] = node
    this.pos[node] = i
    return true
  }
}
