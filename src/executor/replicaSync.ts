import {versionWall} from '../node/lwwMerge.js'
import {type NodeClient} from '../node/nodeClient.js'
import {BUCKET_LISTING_BYTES} from '../node/protocol.js'
import {agreedDigests, initialCutoff} from '../repair/agreedCutoff.js'
import {listBucketsOnAll} from '../repair/bucketListings.js'
import {differingBuckets, planRepair} from '../repair/repairPlan.js'

/** BUCKET_BATCH bounds how many digest buckets one bucketRecords request asks for. */
const BUCKET_BATCH = 256

/** SyncOptions tune syncReplicas' bucket listings. */
export interface SyncOptions {
  /** listingBytes bounds one bucket listing's answer at whole buckets (default BUCKET_LISTING_BYTES). */
  listingBytes?: number
  /**
   * into: repair only this side (`b`): what `a` has that `b` lacks. For a destination refilled
   * from a source that no longer takes writes (after cutover: verifiedDirs.ts), whose newer
   * records are not the source's to have. `equal` then means `b` lacked nothing.
   */
  into?: 'b'
}

/** SyncResult says what comparing two replicas found and fixed. */
export interface SyncResult {
  equal: boolean
  differingBuckets: number
  /** repaired counts records written to either side (LWW winners the side lacked). */
  repaired: number
  /** olderThan is the number of repaired records whose winning version is older than `since` (0 = only fresh writes differed). */
  olderThan: number
}

/**
 * DIGEST_LOOKS is how many times syncReplicas compares digests before it fetches a bucket: a
 * bucket is fetched only when it differed in every look.
 */
const DIGEST_LOOKS = 3

/**
 * syncReplicas compares `a` and `b` for `shard` at `epoch` by digest buckets, fetches
 * only the differing buckets from both, and applies to each side the LWW winners it lacks
 * (kind `repair`; the same merge as `shardctl repair`). `since` (ms) classifies what
 * differed: records newer than it were written during the move and reach both sides by
 * dual writes. Safe to repeat. Digests are compared at a tombstone cutoff both replicas
 * agree on (see agreedDigests), so tombstones one side already purged and the other has
 * not do not count as differences; `now` (wall ms) starts that cutoff.
 *
 * Under client writes, a look at the digests almost always catches a few writes that one
 * side has committed and the other not yet, and a digest bucket of a big shard is large
 * (a 256th of it: 6 MiB of a 1.5 GiB shard) to read and send. So the digests
 * are compared up to {@link DIGEST_LOOKS} times and only buckets that differed in every look
 * are fetched: a write in flight usually lands on both sides within milliseconds, a record
 * one side lacks makes its bucket differ in every look. Why skipping a bucket that was equal
 * in any one look loses nothing a single look would have caught:
 * - equal buckets mean the same records (key, version, value or tombstone; 64-bit XOR of
 *   record hashes, each side read in one snapshot), tombstones older than the agreed cutoff
 *   aside, which every look leaves out alike (same cutoff and format, else the look is ignored);
 * - what the destination needs from the source is on the source from the copy's start on,
 *   or superseded there by a newer version: during a move nothing deletes from a replica
 *   (purges need no move running, drops come after; the one exception, the destination's
 *   deletion of values below an adopted gc floor, runs only at the start of a copy stream
 *   that begins at the range's beginning, before the copy is done and so before any look:
 *   CopyPuller.adoptSourceFloors), and LWW never takes a version back. So
 *   if the bucket was equal in look k, the destination then held each such record or a newer
 *   one, and holds it from then on;
 * - what the source gains after look k and the destination never gets is what one look
 *   leaves behind too: a joint-quorum write (on `w` of the new set whether or not it reached
 *   the destination: with rf 3, `w + 1` acks may leave out either side), a hint or read
 *   repair of a write already on `w` of the staying voters.
 * test/executor/replicaSync.test.ts (a model with writes landing at different looks) and
 * test/integration/executor/replicaSync.test.ts (node processes) fail for a sync that takes a
 * bucket whose digest moved between looks for a write in flight. (bench:move: verifying a
 * 1.5 GiB shard under load fetched such buckets for up to 1.25 s, and clients saw gaps of
 * 114 to 295 ms.)
 *
 * Differing buckets are listed under a byte bound ({@link SyncOptions}; the nodes read them
 * in their copy reader threads): a replica emptied or restarted during the move differs in
 * every bucket, and one unbounded listing would be the whole shard in memory at once. A
 * bucket is repaired only once both sides listed it in full (listBucketsOnAll).
 */
export async function syncReplicas(a: NodeClient, b: NodeClient, shard: number, epoch: number, since: number, now: number = Date.now(), opts: SyncOptions = {}): Promise<SyncResult> {
  const ask = async (tombstonesBefore: number, format: number) => {
    const [da, db] = await Promise.all([a.digest(shard, epoch, {tombstonesBefore, format}), b.digest(shard, epoch, {tombstonesBefore, format})])
    return new Map([['a', da], ['b', db]])
  }
  const agreed = await agreedDigests(ask, initialCutoff(now))
  const cutoff = agreed.cutoff
  let differing = differingBuckets([agreed.digests.get('a')!, agreed.digests.get('b')!])
  // Look again at the same cutoff and format; a look that could not agree on them says nothing.
  for (let i = 1; i < DIGEST_LOOKS && differing.length > 0 && cutoff !== undefined; i++) {
    const again = await agreedDigests(ask, cutoff, undefined, agreed.format)
    if (again.cutoff !== cutoff || again.format !== agreed.format) continue
    const still = new Set(differingBuckets([again.digests.get('a')!, again.digests.get('b')!]))
    differing = differing.filter((bucket) => still.has(bucket))
  }
  if (differing.length === 0) return {equal: true, differingBuckets: 0, repaired: 0, olderThan: 0}
  let repaired = 0
  let olderThan = 0
  const bounds = agreed.digests.get('a')!.bounds
  const replicas = new Map([['a', a], ['b', b]])
  for await (const step of listBucketsOnAll(replicas, shard, epoch, bounds, differing, {bucketsPerRequest: BUCKET_BATCH, maxBytes: opts.listingBytes ?? BUCKET_LISTING_BYTES})) {
    const fixes = planRepair(step.listings, cutoff)
    const forA = opts.into === 'b' ? [] : (fixes.get('a') ?? [])
    const forB = fixes.get('b') ?? []
    olderThan += [...forA, ...forB].filter((r) => versionWall(r.version) < since).length
    if (forA.length) await a.apply(shard, epoch, forA, 'repair')
    if (forB.length) await b.apply(shard, epoch, forB, 'repair')
    repaired += forA.length + forB.length
  }
  // One way, buckets differ by what only `b` holds as well: `b` is whole once it lacked nothing.
  return {equal: opts.into === 'b' && repaired === 0, differingBuckets: differing.length, repaired, olderThan}
}
