import {mergeRecord, versionWall} from '../node/lwwMerge.js'
import {type NodeClient} from '../node/nodeClient.js'
import {type NodeRecord} from '../node/protocol.js'

/** BUCKET_BATCH bounds how many digest buckets one bucketRecords request asks for. */
const BUCKET_BATCH = 256

/** SyncResult says what comparing two replicas found and fixed. */
export interface SyncResult {
  equal: boolean
  differingBuckets: number
  /** repaired counts records written to either side (LWW winners the side lacked). */
  repaired: number
  /** olderThan is the number of still-differing records whose winning version is older than `since` (0 = only fresh writes differ). */
  olderThan: number
}

/**
 * syncReplicas compares `a` and `b` for `shard` at `epoch` by digest buckets, fetches
 * only the differing buckets from both, and applies to each side the LWW winners it lacks
 * (kind `repair`). `since` (ms) classifies what still differs: records newer than it were
 * written during the move and reach both sides by dual writes. Safe to repeat.
 */
export async function syncReplicas(a: NodeClient, b: NodeClient, shard: number, epoch: number, since: number): Promise<SyncResult> {
  const [da, db] = await Promise.all([a.digest(shard, epoch), b.digest(shard, epoch)])
  const differing: number[] = []
  const n = Math.min(da.buckets.length, db.buckets.length)
  for (let i = 0; i < n; i++) if (da.buckets[i] !== db.buckets[i] || da.bounds[i] !== db.bounds[i]) differing.push(i)
  if (differing.length === 0) return {equal: true, differingBuckets: 0, repaired: 0, olderThan: 0}
  let repaired = 0
  let olderThan = 0
  for (let i = 0; i < differing.length; i += BUCKET_BATCH) {
    const batch = differing.slice(i, i + BUCKET_BATCH)
    const [ra, rb] = await Promise.all([a.bucketRecords(shard, epoch, batch), b.bucketRecords(shard, epoch, batch)])
    const {forA, forB, stale} = lwwDiff(ra, rb, since)
    olderThan += stale
    if (forA.length) await a.apply(shard, epoch, forA, 'repair')
    if (forB.length) await b.apply(shard, epoch, forB, 'repair')
    repaired += forA.length + forB.length
  }
  return {equal: false, differingBuckets: differing.length, repaired, olderThan}
}

/**
 * lwwDiff merges two replicas' records per key and returns what each side lacks (the
 * winner, where its own copy differs or is missing), and how many of those winners are
 * older than `since`. Pure.
 */
export function lwwDiff(ra: readonly NodeRecord[], rb: readonly NodeRecord[], since: number): {forA: NodeRecord[]; forB: NodeRecord[]; stale: number} {
  const key = (r: NodeRecord) => r.key.toString('base64')
  const inA = new Map(ra.map((r) => [key(r), r]))
  const inB = new Map(rb.map((r) => [key(r), r]))
  const forA: NodeRecord[] = []
  const forB: NodeRecord[] = []
  let stale = 0
  for (const k of new Set([...inA.keys(), ...inB.keys()])) {
    const x = inA.get(k)
    const y = inB.get(k)
    const winner = y === undefined ? x! : mergeRecord(x, y)
    const sameAsA = x !== undefined && x.version === winner.version && sameValue(x, winner)
    const sameAsB = y !== undefined && y.version === winner.version && sameValue(y, winner)
    if (!sameAsA) forA.push(winner)
    if (!sameAsB) forB.push(winner)
    if ((!sameAsA || !sameAsB) && versionWall(winner.version) < since) stale++
  }
  return {forA, forB, stale}
}

function sameValue(a: NodeRecord, b: NodeRecord): boolean {
  if (a.value === null || b.value === null) return a.value === b.value
  return a.value.equals(b.value)
}
