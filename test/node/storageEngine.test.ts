import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import fc from 'fast-check'
import {afterEach, describe, expect, it} from 'vitest'
import {HASH_SPACE, keyHash} from '../../src/model/hash.js'
import {formatHlc} from '../../src/model/hlc.js'
import {splitRange} from '../../src/model/range.js'
import {type NodeRecord} from '../../src/node/protocol.js'
import {StorageEngine, type StorageEngineOptions} from '../../src/node/storageEngine.js'

const dirs: string[] = []
const engines: StorageEngine[] = []

function open(opts: Partial<StorageEngineOptions> = {}, dir = mkdtempSync(join(tmpdir(), 'shardctl-engine-'))): {engine: StorageEngine; dir: string} {
  if (!dirs.includes(dir)) dirs.push(dir)
  const engine = StorageEngine.open({dir, tombstoneGraceMs: 3_600_000, synchronous: 'NORMAL', clock: () => 0, ...opts})
  engines.push(engine)
  return {engine, dir}
}

afterEach(() => {
  for (const e of engines.splice(0)) e.close()
  for (const d of dirs.splice(0)) rmSync(d, {recursive: true, force: true})
})

const v = (wall: number, counter = 0, writer = 'w') => formatHlc({wall, counter, writer})
const rec = (key: string, version: string, value: string | null): NodeRecord => ({key: Buffer.from(key), version, value: value === null ? null : Buffer.from(value)})
const ALL = {lo: 0, hi: HASH_SPACE}

describe('StorageEngine', {timeout: 30_000}, () => {
  it('given records, when applied, then get returns the LWW winner and counts say what won', async () => {
    const {engine} = open()
    expect(await engine.apply([rec('a', v(10), 'one'), rec('b', v(10), 'bee')])).toEqual({applied: 2, ignored: 0, superseded: []})
    // The older record lost to a newer one (superseded, so no coordinator counts it); the repeat is an idempotent success.
    expect(await engine.apply([rec('a', v(5), 'older'), rec('a', v(10), 'one')])).toEqual({applied: 0, ignored: 2, superseded: [{i: 0, version: v(10)}]})
    expect(await engine.apply([rec('a', v(11), 'newer')])).toEqual({applied: 1, ignored: 0, superseded: []})
    expect(engine.get(Buffer.from('a'))?.value?.toString()).toBe('newer')
    expect(await engine.apply([rec('b', v(9), null), rec('a', v(12), null)])).toEqual({applied: 1, ignored: 1, superseded: [{i: 0, version: v(10)}]})
    expect(engine.get(Buffer.from('a'))).toMatchObject({version: v(12), value: null})
    expect(engine.get(Buffer.from('zzz'))).toBeUndefined()
  })

  it('given concurrent applies in one turn, when awaited, then they share a commit and all resolve', async () => {
    const {engine} = open()
    const results = await Promise.all(Array.from({length: 50}, (_, i) => engine.apply([rec(`k${i}`, v(1), `v${i}`)])))
    expect(results.every((r) => r.applied === 1)).toBe(true)
    expect(engine.totals().keys).toBe(50)
  })

  it('given a bad version, when applied, then the call is refused and nothing is written', async () => {
    const {engine} = open()
    await expect(engine.apply([rec('a', v(1), 'x'), rec('b', 'nope', 'y')])).rejects.toThrow(RangeError)
    expect(engine.totals().keys).toBe(0)
  })

  it('given binary keys and an empty and a 1 MiB value, when read back, then bytes are identical', async () => {
    const {engine} = open()
    const big = Buffer.alloc(1024 * 1024, 7)
    const key = Buffer.from([0, 255, 10, 13])
    await engine.apply([{key, version: v(1), value: big}, {key: Buffer.from('empty'), version: v(1), value: Buffer.alloc(0)}])
    expect(Buffer.compare(engine.get(key)!.value!, big)).toBe(0)
    const empty = engine.get(Buffer.from('empty'))!
    expect(empty.value).not.toBeNull()
    expect(empty.value!.length).toBe(0)
  })

  it('given many records, when scanned in small chunks with cursors, then every record comes once in (hash, key) order', async () => {
    const {engine} = open()
    const records = Array.from({length: 500}, (_, i) => rec(`key-${i}`, v(1), 'x'.repeat(i % 50)))
    await engine.apply(records)
    const range = {lo: 0, hi: 2 ** 31}
    const expected = records.filter((r) => keyHash(r.key) < range.hi).length
    const seen: NodeRecord[] = []
    let cursor: string | undefined
    for (let page = 0; page < 1000; page++) {
      const chunk = engine.scan(range, cursor, 300)
      seen.push(...chunk.records)
      cursor = chunk.cursor
      if (!cursor) break
    }
    expect(seen.length).toBe(expected)
    const order = seen.map((r) => [keyHash(r.key), r.key.toString()] as const)
    for (let i = 1; i < order.length; i++) {
      const [h0, k0] = order[i - 1]!
      const [h1, k1] = order[i]!
      expect(h0 < h1 || (h0 === h1 && k0 < k1)).toBe(true)
    }
  })

  it('given a tombstone older than the grace, when purged, then it is gone and the digest equals a replica that never had the key', async () => {
    let now = 1_000_000
    const {engine} = open({tombstoneGraceMs: 1000, clock: () => now})
    const {engine: other} = open({tombstoneGraceMs: 1000, clock: () => now})
    await engine.apply([rec('a', v(now), 'x'), rec('b', v(now), 'y')])
    await other.apply([rec('b', v(now), 'y')])
    await engine.apply([rec('a', v(now + 1), null)])
    expect(engine.digest(ALL)).not.toEqual(other.digest(ALL))
    now += 500
    expect(engine.purgeTombstones()).toBe(0)
    now += 1000
    expect(engine.purgeTombstones()).toBe(1)
    expect(engine.get(Buffer.from('a'))).toBeUndefined()
    expect(engine.digest(ALL)).toEqual(other.digest(ALL))
    // An expired tombstone arriving later deletes what it beats and stores nothing.
    await other.apply([rec('c', v(now - 5000), 'old')])
    // It is reported as `expired`, so no coordinator counts it as storing the delete.
    expect(await other.apply([rec('d', v(now), 'kept'), rec('c', v(now - 4000), null)])).toEqual({applied: 2, ignored: 0, superseded: [], expired: [1]})
    expect(other.get(Buffer.from('c'))).toBeUndefined()
    expect(await other.apply([rec('absent', v(now - 4000), null)])).toEqual({applied: 0, ignored: 1, superseded: [], expired: [0]})
    expect(await other.apply([rec('fresh', v(now), null)])).toEqual({applied: 1, ignored: 0, superseded: []})
  })

  it('given a client write of a tombstone already past the grace, when applied, then nothing changes and it is reported expired', async () => {
    // Deleting the value without leaving a tombstone would let an older value on another
    // replica win the next quorum read (the acknowledged value write in between is lost).
    const now = 1_000_000
    const {engine} = open({tombstoneGraceMs: 1000, clock: () => now})
    await engine.apply([rec('a', v(now - 3000), 'acked')])
    const before = engine.digest(ALL)
    expect(await engine.apply([rec('a', v(now - 2000), null), rec('b', v(now - 2000), null)], {clientWrite: true})).toEqual({applied: 0, ignored: 2, superseded: [], expired: [0, 1]})
    expect(engine.get(Buffer.from('a'))?.value?.toString()).toBe('acked')
    expect(engine.digest(ALL)).toEqual(before)
    // Older than what is held: superseded, as any losing write.
    expect(await engine.apply([rec('a', v(now - 4000), null)], {clientWrite: true})).toEqual({applied: 0, ignored: 1, superseded: [{i: 0, version: v(now - 3000)}]})
    // A fresh tombstone is stored.
    expect(await engine.apply([rec('a', v(now), null)], {clientWrite: true})).toEqual({applied: 1, ignored: 0, superseded: []})
    expect(engine.get(Buffer.from('a'))).toMatchObject({version: v(now), value: null})
  })

  it('given two replicas, when they hold the same records (any order, repeats), then digests are equal; one differing record changes exactly one bucket', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({k: fc.integer({min: 0, max: 40}), wall: fc.integer({min: 1, max: 5}), del: fc.boolean()}), {minLength: 1, maxLength: 40}),
        async (ops) => {
          const {engine: a} = open()
          const {engine: b} = open()
          const records = ops.map((o) => rec(`k${o.k}`, v(o.wall, 0, o.del ? 'd' : 'w'), o.del ? null : `val${o.wall}`))
          for (const r of records) await a.apply([r])
          await b.apply([...records].reverse())
          await b.apply(records.slice(0, 5))
          expect(a.digest(ALL)).toEqual(b.digest(ALL))
          await b.apply([rec('extra-key', v(9), 'x')])
          const da = a.digest(ALL)
          const db = b.digest(ALL)
          expect(da.buckets.filter((x, i) => x !== db.buckets[i]).length).toBe(1)
          a.close()
          b.close()
        },
      ),
      {numRuns: 20},
    )
  }, 60_000)

  it('given data, when the range is split anywhere, then each half digests like a replica that holds only that half', async () => {
    const {engine} = open()
    const records = Array.from({length: 2000}, (_, i) => rec(`user:${i}`, v(1 + (i % 7)), i % 11 === 0 ? null : `value-${i}`))
    await engine.apply(records)
    for (const at of [123_457, 2 ** 31, 2 ** 31 + 65_536 * 3, HASH_SPACE - 999]) {
      const [left, right] = splitRange(ALL, at)
      for (const half of [left, right]) {
        const {engine: only} = open()
        await only.apply(records.filter((r) => keyHash(r.key) >= half.lo && keyHash(r.key) < half.hi))
        expect(engine.digest(half)).toEqual(only.digest(half))
        expect(engine.rangeTotals(half)).toEqual(only.totals())
      }
    }
  })

  it('given digest buckets, when their records are listed, then they are exactly the records in those bucket bounds', async () => {
    const {engine} = open()
    await engine.apply(Array.from({length: 300}, (_, i) => rec(`r${i}`, v(1), 'x')))
    const range = {lo: 1000, hi: 3_000_000_000}
    const d = engine.digest(range)
    const listed = engine.bucketRecords(range, [0, 5, 5, 9999])
    const inBuckets = (h: number) => [0, 5].some((b) => h >= d.bounds[b]! && h < d.bounds[b + 1]!)
    expect(listed.length).toBe(d.counts[0]! + d.counts[5]!)
    expect(listed.every((r) => inBuckets(keyHash(r.key)))).toBe(true)
  })

  it('given a dropped range, when deleted, then only that range is gone and digests follow', async () => {
    const {engine} = open()
    const records = Array.from({length: 1000}, (_, i) => rec(`d${i}`, v(1), 'x'))
    await engine.apply(records)
    const [left, right] = splitRange(ALL, 1_234_567_891)
    const before = engine.digest(right)
    const inLeft = records.filter((r) => keyHash(r.key) < left.hi).length
    expect(await engine.deleteRange(left)).toBe(inLeft)
    expect(await engine.deleteRange(left)).toBe(0)
    expect(engine.rangeTotals(left)).toEqual({keys: 0, bytes: 0})
    expect(engine.digest(left).buckets.every((b) => b === '0000000000000000')).toBe(true)
    expect(engine.digest(right)).toEqual(before)
    expect(engine.totals().keys).toBe(1000 - inLeft)
  })

  it('given a closed engine, when reopened, then data and digests survive; another node id is refused', async () => {
    const {engine, dir} = open({nodeId: 'n1'})
    await engine.apply([rec('persist', v(3), 'yes')])
    const d = engine.digest(ALL)
    engine.close()
    const {engine: again} = open({nodeId: 'n1'}, dir)
    expect(again.get(Buffer.from('persist'))?.value?.toString()).toBe('yes')
    expect(again.digest(ALL)).toEqual(d)
    again.close()
    expect(() => StorageEngine.open({dir, nodeId: 'n2', tombstoneGraceMs: 1})).toThrow(/belongs to node "n1"/)
  })
})
