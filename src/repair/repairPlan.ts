import {compareRecords, mergeRecord, versionWall} from '../node/lwwMerge.js'
import {digestFormatOf, type DigestResponse, type NodeRecord} from '../node/protocol.js'

/**
 * differingBuckets returns the indexes of the digest buckets on which the replicas'
 * digests disagree (any pair). Every digest must describe the same range with the same
 * bucket bounds (same shard, same epoch) at the same record hash format: throws RangeError
 * otherwise, since comparing buckets over different bounds would repair the wrong records,
 * and buckets at different formats differ whatever the records (ask with agreedDigests).
 */
export function differingBuckets(digests: readonly DigestResponse[]): number[] {
  if (digests.length < 2) return []
  const first = digests[0]!
  for (const d of digests.slice(1)) {
    if (d.bounds.length !== first.bounds.length || d.bounds.some((b, i) => b !== first.bounds[i])) {
      throw new RangeError(`replicas of shard ${first.shard} report different digest bounds (epochs ${first.epoch} and ${d.epoch}); re-read the shard and retry`)
    }
    if (digestFormatOf(d) !== digestFormatOf(first)) {
      throw new RangeError(`replicas of shard ${first.shard} report digests at record hash formats ${digestFormatOf(first)} and ${digestFormatOf(d)}; ask every replica at one format (agreedDigests) and retry`)
    }
  }
  const out: number[] = []
  for (let i = 0; i < first.buckets.length; i++) {
    const b = first.buckets[i]
    if (digests.some((d) => d.buckets[i] !== b)) out.push(i)
  }
  return out
}

/** RepairFixes maps each replica to the records it lacks or holds older versions of. */
export type RepairFixes = Map<string, NodeRecord[]>

/**
 * planRepair merges the replicas' listings of the same buckets with last-writer-wins (the
 * nodes' own order, compareRecords) and returns, per replica, the winning records it is
 * missing or holds an older version of. Applying those makes every listed replica hold
 * the same records for those buckets; tombstones travel like values. With
 * `tombstonesBefore` (the cutoff the digests were compared at), a winning tombstone older
 * than the cutoff goes only to replicas holding an older value: to a replica without the
 * key, or with an older tombstone, it would change nothing its digest shows. Pure.
 */
export function planRepair(listings: ReadonlyMap<string, readonly NodeRecord[]>, tombstonesBefore?: number): RepairFixes {
  const winners = new Map<string, NodeRecord>()
  const held = new Map<string, Map<string, NodeRecord>>()
  for (const [node, records] of listings) {
    const mine = new Map<string, NodeRecord>()
    held.set(node, mine)
    for (const r of records) {
      const id = r.key.toString('latin1')
      mine.set(id, r)
      winners.set(id, mergeRecord(winners.get(id), r))
    }
  }
  const fixes: RepairFixes = new Map()
  for (const [node, mine] of held) {
    const out: NodeRecord[] = []
    for (const [id, winner] of winners) {
      const have = mine.get(id)
      const expired = tombstonesBefore !== undefined && winner.value === null && versionWall(winner.version) < tombstonesBefore
      if (expired ? have !== undefined && have.value !== null && compareRecords(have, winner) < 0 : !have || compareRecords(have, winner) < 0) out.push(winner)
    }
    fixes.set(node, out)
  }
  return fixes
}
