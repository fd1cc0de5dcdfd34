import {describe, expect, it} from 'vitest'
import {HASH_SPACE} from '../../src/model/hash.js'
import {bucketAnswerOrder} from '../../src/node/bucketListing.js'
import {decodeRecords} from '../../src/node/recordCodec.js'
import {type StorageEngine} from '../../src/node/storageEngine.js'
import {ALL, engineFixture, rec, v} from './engineFixture.js'

const open = engineFixture('buckets', {})

/** listing reads `buckets` of `range` with `maxBytes` and returns what the batch holds, decoded, and how many buckets it answered. */
async function listing(engine: StorageEngine, range: {lo: number; hi: number}, buckets: number[], maxBytes?: number) {
  const l = await engine.listBuckets(range, buckets, maxBytes)
  const records = decodeRecords(l.batch)
  expect(l.records).toBe(records.length)
  return {answered: l.answered, records: records.map((r) => `${r.key.toString()}@${r.version}=${r.value?.toString() ?? '<tombstone>'}`)}
}

describe('StorageEngine.listBuckets', {timeout: 60_000}, () => {
  it('answers the same in the copy reader thread as on the main thread, bounded or not, tombstones included', async () => {
    const {engine: threaded} = open()
    const {engine: inline} = open({writerThread: false})
    const records = Array.from({length: 900}, (_, i) => rec(`k-${i}`, v(1000 + i), i % 11 === 0 ? null : `value-${i}-${'y'.repeat(i % 400)}`))
    await threaded.apply(records)
    await inline.apply(records)
    const asks: [{lo: number; hi: number}, number[], number | undefined][] = [
      [ALL, [...Array(256).keys()], undefined],
      [ALL, [200, 3, 3, 77, 9999], undefined],
      [ALL, [...Array(256).keys()], 5000],
      [{lo: 12_345, hi: HASH_SPACE / 3}, [0, 1, 2, 100, 255], 1],
    ]
    for (const [range, buckets, maxBytes] of asks) {
      const a = await listing(threaded, range, buckets, maxBytes)
      expect(a).toEqual(await listing(inline, range, buckets, maxBytes))
      if (maxBytes === undefined) expect(a.answered).toBe(bucketAnswerOrder(buckets).length)
      else expect(a.answered).toBeLessThan(buckets.length)
    }
  })
})
