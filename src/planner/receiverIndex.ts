/**
 * ReceiverIndex keeps the nodes that may receive replicas sorted by utilisation (ties by
 * node index), once over all nodes and once per zone, so the least-loaded feasible
 * destination is found by walking from the front of the right list: with replicas spread
 * over zones a replica can usually only go to a few zones, and the first node there
 * usually fits. {@link update} re-sorts one node in O(N) (binary search plus splice),
 * which a move needs twice; rebuilding the order per move would be O(N log N).
 */
export class ReceiverIndex {
  private readonly order: number[] = []
  private readonly zones: number[][]

  /** ReceiverIndex indexes every node `i` with `receiver[i]`, ordered by `util[i]`, and per zone `zoneOf[i]`. */
  constructor(
    private readonly util: Float64Array,
    receiver: Uint8Array,
    private readonly zoneOf: Int32Array,
    zoneCount: number,
  ) {
    this.zones = Array.from({length: zoneCount}, () => [])
    for (let i = 0; i < receiver.length; i++) {
      if (!receiver[i]) continue
      this.order.push(i)
      this.zones[zoneOf[i]!]!.push(i)
    }
    const byUtil = (a: number, b: number) => this.compare(a, b)
    this.order.sort(byUtil)
    for (const z of this.zones) z.sort(byUtil)
  }

  private compare(a: number, b: number): number {
    return this.util[a]! - this.util[b]! || a - b
  }

  /** nodes is every receiver, least utilised first; callers must not mutate it. */
  get nodes(): readonly number[] {
    return this.order
  }

  /** zoneCount is the number of zones (some may have no receivers). */
  get zoneCount(): number {
    return this.zones.length
  }

  /** inZone is zone `z`'s receivers, least utilised first; callers must not mutate it. */
  inZone(z: number): readonly number[] {
    return this.zones[z]!
  }

  /** update moves `node` to its place after its utilisation changed; a node not indexed is ignored. */
  update(node: number): void {
    if (this.reinsert(this.order, node)) this.reinsert(this.zones[this.zoneOf[node]!]!, node)
  }

  private reinsert(list: number[], node: number): boolean {
    const at = list.indexOf(node)
    if (at < 0) return false
    list.splice(at, 1)
    let lo = 0
    let hi = list.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (this.compare(list[mid]!, node) < 0) lo = mid + 1
      else hi = mid
    }
    list.splice(lo, 0, node)
    return true
  }
}
