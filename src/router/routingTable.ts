import {keyHash} from '../model/hash.js'
import {findRange, type HashRange} from '../model/range.js'
import {type Shard} from '../model/shard.js'

/**
 * RoutingTable is an immutable snapshot of the shard map ordered by range, answering
 * "which shard owns this key" by binary search over the ranges (findRange). Built anew on
 * every map change (copy on write), so a request routes against one consistent snapshot
 * even while watch events arrive.
 *
 * A map caught mid-change (two shards of one split transaction seen one event at a time)
 * can briefly overlap or leave a gap: overlapping shards are resolved in favour of the
 * later `lo` (the one that starts inside the other), and a gap routes nowhere; the next
 * event of the same revision repairs both before any request can observe them.
 */
export class RoutingTable {
  private readonly sorted: readonly Shard[]
  private readonly ranges: readonly HashRange[]
  private readonly byIdMap: ReadonlyMap<number, Shard>

  private constructor(shards: readonly Shard[]) {
    const sorted = [...shards].sort((a, b) => a.range.lo - b.range.lo || b.epoch - a.epoch)
    const kept: Shard[] = []
    for (const s of sorted) {
      const prev = kept[kept.length - 1]
      if (prev && prev.range.lo === s.range.lo) continue // same start: the higher epoch (first) wins
      if (prev && prev.range.hi > s.range.lo) kept[kept.length - 1] = {...prev, range: {lo: prev.range.lo, hi: s.range.lo}}
      kept.push(s)
    }
    this.sorted = kept
    this.ranges = kept.map((s) => s.range)
    this.byIdMap = new Map(shards.map((s) => [s.id, s]))
  }

  /** of builds a table over `shards` (any order). */
  static of(shards: Iterable<Shard>): RoutingTable {
    return new RoutingTable([...shards])
  }

  /** size is the number of shards in the table. */
  get size(): number {
    return this.byIdMap.size
  }

  /** shardForHash returns the shard whose range holds `hash`, or undefined when no shard covers it. */
  shardForHash(hash: number): Shard | undefined {
    const i = findRange(this.ranges, hash)
    if (i < 0) return undefined
    const s = this.sorted[i]!
    // Ranges trimmed for an overlap route by the trimmed range but return the stored shard.
    return this.byIdMap.get(s.id)
  }

  /** shardForKey returns the shard owning `key` (murmur3 of its bytes), or undefined. */
  shardForKey(key: Uint8Array | string): Shard | undefined {
    return this.shardForHash(keyHash(key))
  }

  /** shard returns shard `id`, or undefined. */
  shard(id: number): Shard | undefined {
    return this.byIdMap.get(id)
  }

  /** shards lists every shard in range order. */
  shards(): Shard[] {
    return this.sorted.map((s) => this.byIdMap.get(s.id)!)
  }

  private nodeIds?: ReadonlySet<string>

  /** nodes is the set of node ids any shard lists in any role (pools for other nodes can be drained). */
  nodes(): Set<string> {
    if (!this.nodeIds) {
      // Followers share equal replica lists (ShardDecoder), so each distinct list is walked once.
      const lists = new Set<readonly {node: string}[]>()
      for (const s of this.byIdMap.values()) lists.add(s.replicas)
      const out = new Set<string>()
      for (const l of lists) for (const r of l) out.add(r.node)
      this.nodeIds = out
    }
    return new Set(this.nodeIds)
  }

  /** epochs maps every shard id to its epoch. */
  epochs(): Record<string, number> {
    const out: Record<string, number> = {}
    for (const s of this.byIdMap.values()) out[String(s.id)] = s.epoch
    return out
  }
}
