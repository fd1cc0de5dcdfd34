import fc from 'fast-check'
import {describe, expect, it} from 'vitest'
import {syncReplicas} from '../../src/executor/replicaSync.js'
import {keyHash} from '../../src/model/hash.js'
import {formatHlc} from '../../src/model/hlc.js'
import {mergeRecord, versionWall} from '../../src/node/lwwMerge.js'
import {type NodeClient} from '../../src/node/nodeClient.js'
import {type DigestResponse, type NodeRecord} from '../../src/node/protocol.js'
import {RECORD_HASH_FORMAT, recordHash} from '../../src/node/recordHash.js'
import {BoundedReplica} from '../support/boundedReplica.js'

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
        return {records: buckets.flatMap((b) => this.records(b)), answered: [...buckets]}
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

/**
 * ModelReplica is a replica as the digest sees it: one LWW record per key, digest buckets
 * that XOR the real record hashes (tombstones older than the asked cutoff left out, as a
 * node does), and writes in flight that land on it just before its `look`-th digest
 * (`landing(look)`): a dual write reaches the two replicas at different looks.
 */
class ModelReplica {
  readonly records = new Map<string, NodeRecord>()
  looks = 0

  constructor(private readonly landing: (look: number) => readonly NodeRecord[]) {}

  put(r: NodeRecord): void {
    const id = r.key.toString('latin1')
    this.records.set(id, mergeRecord(this.records.get(id), r))
  }

  /** landRest lands every write still in flight to this replica (the looks it was due at never came). */
  landRest(lastLook: number): void {
    for (; this.looks <= lastLook; this.looks++) for (const r of this.landing(this.looks)) this.put(r)
  }

  client(): NodeClient {
    const bucketOf = (r: NodeRecord) => keyHash(r.key) % MODEL_BUCKETS
    return {
      digest: async (_shard: number, epoch: number, opts: {tombstonesBefore?: number; format?: number}): Promise<DigestResponse> => {
        for (const r of this.landing(this.looks++)) this.put(r)
        const hi = new Array<number>(MODEL_BUCKETS).fill(0)
        const lo = new Array<number>(MODEL_BUCKETS).fill(0)
        for (const r of this.records.values()) {
          if (r.value === null && opts.tombstonesBefore !== undefined && versionWall(r.version) < opts.tombstonesBefore) continue
          const [a, c] = recordHash(r.key, r.version, r.value)
          hi[bucketOf(r)] = (hi[bucketOf(r)]! ^ a) >>> 0
          lo[bucketOf(r)] = (lo[bucketOf(r)]! ^ c) >>> 0
        }
        const hex = (x: number) => x.toString(16).padStart(8, '0')
        const bounds = Array.from({length: MODEL_BUCKETS + 1}, (_, i) => i)
        return {shard: 1, epoch, range: {lo: 0, hi: MODEL_BUCKETS}, bounds, buckets: hi.map((x, i) => hex(x) + hex(lo[i]!)), counts: hi.map(() => 0), tombstonesBefore: opts.tombstonesBefore, format: RECORD_HASH_FORMAT}
      },
      bucketRecords: async (_shard: number, _epoch: number, buckets: number[]) => ({records: [...this.records.values()].filter((r) => buckets.includes(bucketOf(r))), answered: [...buckets].sort((x, y) => x - y)}),
      apply: async (_shard: number, epoch: number, records: NodeRecord[]) => {
        for (const r of records) this.put(r)
        return {epoch, applied: records.length, ignored: 0}
      },
    } as unknown as NodeClient
  }
}

/** MODEL_BUCKETS is small so that writes in flight often share a bucket with a record the copy missed. */
const MODEL_BUCKETS = 4
const NOW = 1_700_000_000_000
const at = (wall: number, writer = 'w') => formatHlc({wall, counter: 0, writer})

describe('syncReplicas against a copy that missed records while dual writes are in flight', () => {
  it('leaves the destination holding every record of the source once the writes in flight have landed, whatever the looks saw', async () => {
    const keys = Array.from({length: 12}, (_, i) => Buffer.from(`key-${i}`))
    // Each source record: absent, copied, missed by the copy, or copied at an older version (stale).
    const held = fc.constantFrom('absent', 'copied', 'missed', 'stale')
    // Each dual write lands on each side just before look 0, 1 or 2, or after the sync (3).
    const write = fc.record({key: fc.nat(keys.length - 1), del: fc.boolean(), landA: fc.nat(3), landB: fc.nat(3)})
    await fc.assert(
      fc.asyncProperty(fc.array(held, {minLength: keys.length, maxLength: keys.length}), fc.array(write, {maxLength: 12}), async (holds, writes) => {
        // Versions: what the copy saw is older than every write made during the move.
        const flying = writes.map((w, i) => ({...w, record: {key: keys[w.key]!, version: at(NOW + 100 + i), value: w.del ? null : Buffer.from(`w${i}`)}}))
        const due = (side: 'landA' | 'landB') => (look: number) => flying.filter((w) => w[side] === look).map((w) => w.record)
        const a = new ModelReplica(due('landA'))
        const b = new ModelReplica(due('landB'))
        holds.forEach((h, i) => {
          if (h === 'absent') return
          const rec: NodeRecord = {key: keys[i]!, version: at(NOW + 10 + i), value: i % 3 === 0 ? null : Buffer.from(`v${i}`)}
          a.put(rec)
          if (h === 'copied') b.put(rec)
          if (h === 'stale') b.put({key: keys[i]!, version: at(NOW - 5000 + i), value: Buffer.from(`old${i}`)})
        })
        await syncReplicas(a.client(), b.client(), 1, 7, NOW, NOW + 1000)
        a.landRest(3)
        b.landRest(3)
        const view = (r: ModelReplica) => [...r.records.entries()].sort(([x], [y]) => (x < y ? -1 : 1)).map(([k, rec]) => `${k}=${rec.version}:${rec.value?.toString() ?? 'tombstone'}`)
        expect(view(b)).toEqual(view(a))
      }),
      {numRuns: 400},
    )
  })
})

describe('syncReplicas with byte-bounded bucket listings', () => {
  it('given a destination emptied during the move, when the listings are cut at a few buckets each, then every differing bucket is fetched and repaired', async () => {
    const src = new BoundedReplica()
    const dst = new BoundedReplica()
    for (let i = 0; i < 2000; i++) src.put({key: Buffer.from(`moved-${i}`), version: at(NOW + i), value: Buffer.alloc(300, i & 0xff)})
    // dst kept a few records of its own that src lacks (written only there), so both sides need repair.
    for (let i = 0; i < 20; i++) dst.put({key: Buffer.from(`dst-only-${i}`), version: at(NOW + 5000 + i), value: Buffer.from('d')})
    const res = await syncReplicas(src.client(), dst.client(), 1, 7, NOW + 100_000, NOW + 200_000, {listingBytes: 16_384})
    expect(res.equal).toBe(false)
    expect(res.repaired).toBe(2020)
    expect(dst.view()).toEqual(src.view())
    // The bound did split the listing: answers held a few of the asked buckets.
    expect(src.asks.length).toBeGreaterThan(10)
    expect(src.asks.filter((a) => a.answered < a.asked.length).length).toBe(src.asks.length - 1)
    expect(await syncReplicas(src.client(), dst.client(), 1, 7, NOW + 100_000, NOW + 200_000, {listingBytes: 16_384})).toMatchObject({equal: true})
  })
})
