import {HASH_SPACE, keyHash} from '../../src/model/hash.js'
import {bucketAnswerOrder} from '../../src/node/bucketListing.js'
import {digestLayout} from '../../src/node/digestLayout.js'
import {mergeRecord} from '../../src/node/lwwMerge.js'
import {type BucketRecords, type BucketRecordsOptions, type NodeClient} from '../../src/node/nodeClient.js'
import {type DigestResponse, type NodeRecord} from '../../src/node/protocol.js'
import {encodedRecordSize, RECORD_BATCH_HEADER} from '../../src/node/recordCodec.js'
import {RECORD_HASH_FORMAT, recordHash} from '../../src/node/recordHash.js'

/** WHOLE is the shard range BoundedReplica serves: the whole hash space (256 digest buckets). */
export const WHOLE = {lo: 0, hi: HASH_SPACE}

/**
 * BoundedReplica is a replica as a verify or a repair sees it, without I/O: LWW records,
 * digests over the real layout of {@link WHOLE} (XOR of real record hashes, no tombstone
 * cutoff), and bucket listings that honour `maxBytes` the way a node does (whole buckets in
 * ascending order, at least one, stopping once the encoded answer reached the bound). A
 * `legacy` replica ignores `maxBytes` and answers every bucket, as a node built before it.
 */
export class BoundedReplica {
  readonly records = new Map<string, NodeRecord>()
  /** asks records each listing request: the buckets asked and how many were answered. */
  readonly asks: {asked: number[]; answered: number}[] = []
  private readonly bounds = digestLayout(WHOLE).bounds

  constructor(private readonly opts: {legacy?: boolean} = {}) {}

  put(r: NodeRecord): void {
    const id = r.key.toString('latin1')
    this.records.set(id, mergeRecord(this.records.get(id), r))
  }

  /** bucketOf is the digest bucket of `r` in {@link WHOLE}'s layout. */
  bucketOf(r: NodeRecord): number {
    const h = keyHash(r.key)
    let b = 0
    while (h >= this.bounds[b + 1]!) b++
    return b
  }

  /** view is every record as `key=version:value`, sorted: two replicas holding the same records have equal views. */
  view(): string[] {
    return [...this.records.entries()].sort(([x], [y]) => (x < y ? -1 : 1)).map(([k, r]) => `${k}=${r.version}:${r.value?.toString() ?? 'tombstone'}`)
  }

  digest(epoch: number, opts: {tombstonesBefore?: number; format?: number} = {}): DigestResponse {
    const n = this.bounds.length - 1
    const hi = new Array<number>(n).fill(0)
    const lo = new Array<number>(n).fill(0)
    const counts = new Array<number>(n).fill(0)
    for (const r of this.records.values()) {
      const b = this.bucketOf(r)
      const [x, y] = recordHash(r.key, r.version, r.value)
      hi[b] = (hi[b]! ^ x) >>> 0
      lo[b] = (lo[b]! ^ y) >>> 0
      counts[b]!++
    }
    const hex = (x: number) => x.toString(16).padStart(8, '0')
    return {shard: 1, epoch, range: WHOLE, bounds: this.bounds, buckets: hi.map((x, i) => hex(x) + hex(lo[i]!)), counts, tombstonesBefore: opts.tombstonesBefore, format: opts.format ?? RECORD_HASH_FORMAT}
  }

  list(buckets: readonly number[], opts: BucketRecordsOptions = {}): BucketRecords {
    const order = bucketAnswerOrder(buckets)
    const maxBytes = this.opts.legacy ? undefined : opts.maxBytes
    const byHash = [...this.records.values()].sort((x, y) => keyHash(x.key) - keyHash(y.key) || Buffer.compare(x.key, y.key))
    const records: NodeRecord[] = []
    let bytes = RECORD_BATCH_HEADER
    let answered = 0
    for (const b of order) {
      if (maxBytes !== undefined && answered > 0 && bytes >= maxBytes) break
      for (const r of byHash.filter((x) => this.bucketOf(x) === b)) {
        records.push(r)
        bytes += encodedRecordSize(r)
      }
      answered++
    }
    this.asks.push({asked: order, answered})
    return {records, answered: order.slice(0, answered)}
  }

  client(): NodeClient {
    return {
      digest: async (_shard: number, epoch: number, opts: {tombstonesBefore?: number; format?: number}) => this.digest(epoch, opts),
      bucketRecords: async (_shard: number, _epoch: number, buckets: number[], opts?: BucketRecordsOptions) => this.list(buckets, opts),
      apply: async (_shard: number, epoch: number, records: NodeRecord[]) => {
        for (const r of records) this.put(r)
        return {epoch, applied: records.length, ignored: 0}
      },
    } as unknown as NodeClient
  }
}
