import type Database from 'better-sqlite3'
import {type HashRange} from '../model/range.js'
import {digestLayout} from './digestLayout.js'
import {type NodeRecord} from './protocol.js'
import {encodedRecordSize, encodeRecords, RECORD_BATCH_HEADER} from './recordCodec.js'

/**
 * BucketListing answers a bucket listing (`POST /v1/shards/{id}/buckets`): every record of
 * the first `answered` buckets of {@link bucketAnswerOrder}(asked), as one record batch.
 */
export interface BucketListing {
  batch: Buffer
  records: number
  /** answered is how many of the asked buckets, in {@link bucketAnswerOrder}, the batch holds completely (never cut). */
  answered: number
}

/** RangeRows reads the rows of [lo, hi) as raw `[h, k, ver, v]` arrays (prepareCopyPageStatements' `from` scan, or one over several stores). */
export interface RangeRows {
  iterate(lo: number, hi: number): IterableIterator<[number, Buffer, string, Buffer | null]>
}

/**
 * bucketAnswerOrder is the order a node answers asked digest buckets in: distinct, ascending.
 * A listing cut by its byte bound answers a prefix of this order, so asker and node agree on
 * which buckets a count of answered buckets names.
 */
export function bucketAnswerOrder(buckets: readonly number[]): number[] {
  return [...new Set(buckets)].sort((x, y) => x - y)
}

/**
 * readBucketListing lists the records of the asked digest buckets of `range` (see
 * digestLayout; indexes beyond the layout hold nothing and count as answered) in answer
 * order, in ONE read transaction on `db` (one snapshot for the whole answer), encoded with
 * `alloc`. With `maxBytes` it stops after the bucket during which the encoded answer
 * reached `maxBytes`: a bucket is never cut, and at least one is answered, so an answer
 * exceeds the bound by at most one bucket. Without it every asked bucket is answered.
 * `scan` must read `db` (prepareCopyPageStatements' `from` range scan on it), or, for a
 * range some of whose rows are in range stores, each part's store (StorageEngine.listBuckets).
 */
export function readBucketListing(
  db: Database.Database,
  scan: RangeRows,
  range: HashRange,
  buckets: readonly number[],
  maxBytes: number | undefined,
  alloc?: (size: number) => Buffer,
): BucketListing {
  const {bounds} = digestLayout(range)
  const order = bucketAnswerOrder(buckets)
  const records: NodeRecord[] = []
  let answered = 0
  db.transaction(() => {
    let bytes = RECORD_BATCH_HEADER
    for (const b of order) {
      if (maxBytes !== undefined && answered > 0 && bytes >= maxBytes) break
      if (b + 1 < bounds.length) {
        for (const [, k, ver, v] of scan.iterate(bounds[b]!, bounds[b + 1]!)) {
          const r = {key: k, version: ver, value: v}
          records.push(r)
          bytes += encodedRecordSize(r)
        }
      }
      answered++
    }
  })()
  return {batch: encodeRecords(records, alloc), records: records.length, answered}
}
