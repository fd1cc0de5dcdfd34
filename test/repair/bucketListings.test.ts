import {describe, expect, it} from 'vitest'
import {formatHlc} from '../../src/model/hlc.js'
import {type NodeRecord} from '../../src/node/protocol.js'
import {listBucketsOnAll, type ListedBuckets} from '../../src/repair/bucketListings.js'
import {BoundedReplica, WHOLE} from '../support/boundedReplica.js'
import {digestLayout} from '../../src/node/digestLayout.js'

const BOUNDS = digestLayout(WHOLE).bounds
const at = (n: number) => formatHlc({wall: 1_700_000_000_000 + n, counter: 0, writer: 'w'})
const record = (key: string, n: number, size = 200): NodeRecord => ({key: Buffer.from(key), version: at(n), value: Buffer.alloc(size, n & 0xff)})

/** filled returns a replica holding `count` records of `size` value bytes (keys spread over every bucket by their hash). */
function filled(count: number, size: number, prefix = 'k', opts: {legacy?: boolean} = {}): BoundedReplica {
  const r = new BoundedReplica(opts)
  for (let i = 0; i < count; i++) r.put(record(`${prefix}-${i}`, i, size))
  return r
}

async function collect(replicas: Map<string, BoundedReplica>, buckets: number[], maxBytes: number, bucketsPerRequest = 256): Promise<ListedBuckets[]> {
  const steps: ListedBuckets[] = []
  const clients = new Map([...replicas].map(([n, r]) => [n, r.client()]))
  for await (const step of listBucketsOnAll(clients, 1, 7, BOUNDS, buckets, {bucketsPerRequest, maxBytes})) steps.push(step)
  return steps
}

/** keysIn returns `r`'s keys in `buckets`, sorted. */
const keysIn = (r: BoundedReplica, buckets: readonly number[]) => [...r.records.values()].filter((x) => buckets.includes(r.bucketOf(x))).map((x) => x.key.toString()).sort()
const keysOf = (records: readonly NodeRecord[]) => records.map((x) => x.key.toString()).sort()

describe('listBucketsOnAll', () => {
  it('given a full replica and an emptied one and a byte bound, when listing every bucket, then each bucket comes once, in order, with every record of each replica', async () => {
    const full = filled(3000, 200)
    const empty = new BoundedReplica()
    const all = [...Array(256).keys()]
    const steps = await collect(new Map([['full', full], ['empty', empty]]), all, 20_000)
    // The bound split the listing: the full replica answered a few buckets at a time, the empty one all it was asked.
    expect(steps.length).toBeGreaterThan(10)
    expect(steps.flatMap((s) => s.buckets)).toEqual(all)
    for (const s of steps) {
      expect(keysOf(s.listings.get('full')!)).toEqual(keysIn(full, s.buckets))
      expect(s.listings.get('empty')).toEqual([])
    }
    expect(empty.asks.every((a) => a.answered === a.asked.length)).toBe(true)
    // What the empty replica said beyond a step was asked again, never taken as the step's.
    expect(empty.asks.length).toBe(steps.length)
  })

  it('given replicas holding different records, when one answers fewer buckets, then the other is cut to the same buckets and the rest asked again', async () => {
    const dense = filled(2000, 400, 'd')
    const sparse = filled(300, 50, 's')
    const differing = [3, 4, 17, 17, 90, 91, 92, 200, 255, 1]
    const steps = await collect(new Map([['sparse', sparse], ['dense', dense]]), differing, 10_000, 4)
    const order = [...new Set(differing)].sort((x, y) => x - y)
    expect(steps.flatMap((s) => s.buckets)).toEqual(order)
    for (const s of steps) {
      expect(keysOf(s.listings.get('dense')!)).toEqual(keysIn(dense, s.buckets))
      expect(keysOf(s.listings.get('sparse')!)).toEqual(keysIn(sparse, s.buckets))
    }
    // No request asked for more than bucketsPerRequest buckets.
    expect([...dense.asks, ...sparse.asks].every((a) => a.asked.length <= 4)).toBe(true)
  })

  it('given a node that predates the bound (answers everything), when listed beside a bounded one, then every bucket still comes once with all records', async () => {
    const legacy = filled(1500, 300, 'k', {legacy: true})
    const bounded = filled(1500, 300, 'k')
    bounded.put(record('only-here', 99_999))
    const all = [...Array(256).keys()]
    const steps = await collect(new Map([['legacy', legacy], ['bounded', bounded]]), all, 30_000)
    expect(steps.length).toBeGreaterThan(5)
    expect(steps.flatMap((s) => s.buckets)).toEqual(all)
    expect(steps.flatMap((s) => keysOf(s.listings.get('legacy')!)).sort()).toEqual(keysIn(legacy, all))
    expect(steps.flatMap((s) => keysOf(s.listings.get('bounded')!)).sort()).toEqual(keysIn(bounded, all))
  })

  it('asks with the byte bound it was given', async () => {
    const seen: (number | undefined)[] = []
    const client = {bucketRecords: async (_s: number, _e: number, buckets: readonly number[], opts?: {maxBytes?: number}) => (seen.push(opts?.maxBytes), {records: [], answered: [...buckets]})}
    for await (const _ of listBucketsOnAll(new Map([['a', client], ['b', client]]), 1, 7, BOUNDS, [1, 2], {bucketsPerRequest: 256, maxBytes: 1234})) void _
    expect(seen).toEqual([1234, 1234])
  })
})
