import {keyHash} from '../model/hash.js'
import {bucketAnswerOrder} from '../node/bucketListing.js'
import {type BucketRecordsOptions, type NodeClient} from '../node/nodeClient.js'
import {type NodeRecord} from '../node/protocol.js'

/** ListedBuckets is one step of {@link listBucketsOnAll}: buckets every replica listed in full, and each replica's records of exactly those. */
export interface ListedBuckets {
  buckets: number[]
  listings: Map<string, NodeRecord[]>
}

/** ListBucketsOptions bound each request: at most `bucketsPerRequest` buckets, answered up to about `maxBytes` (whole buckets). */
export interface ListBucketsOptions {
  bucketsPerRequest: number
  maxBytes: number
}

/** BucketLister is the part of a NodeClient that listing needs (tests pass fakes). */
export type BucketLister = Pick<NodeClient, 'bucketRecords'>

/**
 * listBucketsOnAll lists `buckets` of `shard` at `epoch` on every replica and yields them
 * in steps, each covering buckets that EVERY replica answered in full, with each replica's
 * records of exactly those buckets, so a repair plan (planRepair) compares like with like.
 * Every asked bucket is in exactly one step, in ascending order; `bounds` are the digest's
 * bucket bounds (DigestResponse.bounds at `epoch`).
 *
 * Each request carries a byte bound, so a node answers only as many whole buckets as fit
 * (at least one). Replicas holding different amounts answer different counts: a step takes
 * the fewest, drops what a replica sent beyond them (its records are in ascending hash
 * order, so they are the ones at or above the step's last bucket's end) and asks again
 * from there. A bucket a replica did not answer is never taken as empty: that would repair
 * nothing into a replica missing it, or pass a verify that should fail. A node that
 * predates the bound answers every asked bucket, which this takes as such.
 *
 * Throws what the clients throw (nothing is yielded for the failed request).
 */
export async function* listBucketsOnAll(
  replicas: ReadonlyMap<string, BucketLister>,
  shard: number,
  epoch: number,
  bounds: readonly number[],
  buckets: readonly number[],
  opts: ListBucketsOptions,
): AsyncGenerator<ListedBuckets> {
  if (replicas.size === 0) return
  let pending = bucketAnswerOrder(buckets)
  const ask: BucketRecordsOptions = {maxBytes: opts.maxBytes}
  while (pending.length > 0) {
    const asked = pending.slice(0, Math.max(1, opts.bucketsPerRequest))
    const answers = await Promise.all([...replicas].map(async ([node, c]) => [node, await c.bucketRecords(shard, epoch, asked, ask)] as const))
    const common = Math.min(...answers.map(([, a]) => a.answered.length))
    // NodeClient never returns fewer than one; a step of none would ask the same forever.
    if (!(common >= 1)) throw new Error(`a replica of shard ${shard} answered none of ${asked.length} asked buckets`)
    const done = asked.slice(0, common)
    const end = bounds[done.at(-1)! + 1] ?? Number.POSITIVE_INFINITY
    const listings = new Map<string, NodeRecord[]>()
    for (const [node, a] of answers) listings.set(node, a.answered.length === common ? a.records : a.records.filter((r) => keyHash(r.key) < end))
    yield {buckets: done, listings}
    pending = pending.slice(common)
  }
}
