import {describe, expect, it} from 'vitest'
import {syncReplicas} from '../../src/executor/replicaSync.js'
import {type NodeClient} from '../../src/node/nodeClient.js'
import {type DigestResponse, type NodeRecord} from '../../src/node/protocol.js'
import {RECORD_HASH_FORMAT} from '../../src/node/recordHash.js'

const BUCKETS = 8

/**
 * FakeReplica answers digests from a script: look i's digest has `value` in every bucket
 * but those listed for that look, which carry a mark of this replica's own (they differ from
 * the other side). bucketRecords and apply are recorded.
 */
class FakeReplica {
  looks = 0
  fetched: number[][] = []
  applied: NodeRecord[][] = []

  constructor(
    private readonly name: string,
    private readonly differAt: (look: number) => readonly number[],
    private readonly records: (bucket: number) => NodeRecord[] = () => [],
  ) {}

  client(): NodeClient {
    return {
      digest: async (_shard: number, epoch: number, opts: {tombstonesBefore?: number; format?: number}): Promise<DigestResponse> => {
        const differ = new Set(this.differAt(this.looks++))
        const bounds = Array.from({length: BUCKETS + 1}, (_, i) => i * 100)
        const buckets = Array.from({length: BUCKETS}, (_, i) => (differ.has(i) ? `${this.name === 'a' ? 'a' : 'b'}`.repeat(16) : '0'.repeat(16)))
        return {shard: 1, epoch, range: {lo: 0, hi: BUCKETS * 100}, bounds, buckets, counts: buckets.map(() => 1), tombstonesBefore: opts.tombstonesBefore, format: opts.format ?? RECORD_HASH_FORMAT}
      },
      bucketRecords: async (_shard: number, _epoch: number, buckets: number[]) => {
        this.fetched.push([...buckets])
        return buckets.flatMap((b) => this.records(b))
      },
      apply: async (_shard: number, epoch: number, records: NodeRecord[]) => {
        this.applied.push(records)
        return {epoch, applied: records.length, ignored: 0}
      },
    } as unknown as NodeClient
  }
}

const rec = (key: string, version: string): NodeRecord => ({key: Buffer.from(key), version, value: Buffer.from('v')})

describe('syncReplicas', () => {
  it('fetches only the buckets that differ in every look: writes in flight (a different bucket each look) are left to land', async () => {
    // Bucket 5 lacks a record on b in every look; buckets 1, 2, 3 each differ in one look only (a write in flight).
    const inFlight = [[1, 5], [2, 5], [3, 5]]
    const a = new FakeReplica('a', (i) => inFlight[i] ?? [5], (b) => (b === 5 ? [rec('k5', '0000000000000001')] : []))
    const b = new FakeReplica('b', (i) => inFlight[i] ?? [5])
    const res = await syncReplicas(a.client(), b.client(), 1, 7, 0, 1_000_000)
    expect(a.fetched).toEqual([[5]])
    expect(b.fetched).toEqual([[5]])
    expect(b.applied.map((rs) => rs.map((r) => r.key.toString()))).toEqual([['k5']])
    expect(res).toMatchObject({equal: false, differingBuckets: 1, repaired: 1})
    expect(a.looks).toBe(3)
  })

  it('calls replicas equal without fetching anything when no bucket differs in every look', async () => {
    const a = new FakeReplica('a', (i) => [[0, 4], [4], [6]][i] ?? [])
    const b = new FakeReplica('b', (i) => [[0, 4], [4], [6]][i] ?? [])
    expect(await syncReplicas(a.client(), b.client(), 1, 7, 0, 1_000_000)).toEqual({equal: true, differingBuckets: 0, repaired: 0, olderThan: 0})
    expect([a.fetched, b.fetched]).toEqual([[], []])
  })

  it('looks once when the first look is equal, and stops looking once nothing is left', async () => {
    const a = new FakeReplica('a', () => [])
    const b = new FakeReplica('b', () => [])
    expect((await syncReplicas(a.client(), b.client(), 1, 7, 0, 1_000_000)).equal).toBe(true)
    expect(a.looks).toBe(1)
    const c = new FakeReplica('a', (i) => (i === 0 ? [2] : []))
    const d = new FakeReplica('b', (i) => (i === 0 ? [2] : []))
    expect((await syncReplicas(c.client(), d.client(), 1, 7, 0, 1_000_000)).equal).toBe(true)
    expect(c.looks).toBe(2)
  })
})
