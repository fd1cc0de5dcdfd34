import fc from 'fast-check'
import {describe, expect, it} from 'vitest'
import {HASH_SPACE, keyHash} from '../../src/model/hash.js'
import {splitRange} from '../../src/model/range.js'
import {compareRecords} from '../../src/node/lwwMerge.js'
import {type NodeRecord} from '../../src/node/protocol.js'
import {decodeRecords} from '../../src/node/recordCodec.js'
import {StorageEngine} from '../../src/node/storageEngine.js'
import {ALL, engineFixture, rec, v} from './engineFixture.js'

const open = engineFixture('engine', {})

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

  it('given a client write, when its tombstones are stored, then each names what it replaced; copies and repeats name nothing', async () => {
    const {engine} = open()
    await engine.apply([rec('live', v(10), 'one'), rec('dead', v(10), null)])
    const del = await engine.apply([rec('live', v(11), null), rec('dead', v(11), null), rec('none', v(11), null), rec('put', v(11), 'x')], {clientWrite: true})
    expect(del.deletePriors).toEqual([
      {i: 0, version: v(10), live: true},
      {i: 1, version: v(10), live: false},
      {i: 2, live: false},
    ])
    // A retry of a stored tombstone repeats it: what it replaced is no longer known here.
    expect((await engine.apply([rec('live', v(11), null)], {clientWrite: true})).deletePriors).toBeUndefined()
    expect((await engine.apply([rec('live', v(12), null)])).deletePriors).toBeUndefined()
  })

  it('given concurrent applies in one turn, when awaited, then they share a commit and all resolve', async () => {
    const commits: [string, number][] = []
    const {engine} = open({onCommit: (kind, _seconds, records) => commits.push([kind, records])})
    const results = await Promise.all(Array.from({length: 50}, (_, i) => engine.apply([rec(`k${i}`, v(1), `v${i}`)])))
    expect(results.every((r) => r.applied === 1)).toBe(true)
    expect(engine.totals().keys).toBe(50)
    expect(commits).toEqual([['group', 50]])
    // While one commit is in flight, later applies gather into the next one (never one each).
    const first = engine.apply([rec('g0', v(1), 'x')])
    await new Promise((r) => setImmediate(r))
    const rest = Array.from({length: 20}, (_, i) => engine.apply([rec(`g${i + 1}`, v(1), 'x')]))
    await Promise.all([first, ...rest])
    expect(commits.slice(1).reduce((n, [, records]) => n + records, 0)).toBe(21)
    expect(commits.length).toBeLessThanOrEqual(1 + 3)
  })

  it('given applies queued (not yet committed), when writesQueuedBefore is awaited, then every one of them is committed and in the digest, and it wrote nothing', async () => {
    const {engine} = open()
    const before = engine.digest(ALL)
    const applies = [engine.apply([rec('q1', v(10), 'one')]), engine.apply([rec('q2', v(10), null)])]
    let committed = 0
    for (const a of applies) void a.then(() => committed++)
    // Queued in this turn, so not committed yet: the digest at a cutoff (NodeHttpApi.digest) would have missed them.
    expect(engine.digest(ALL)).toEqual(before)
    await engine.writesQueuedBefore()
    expect(committed).toBe(2)
    expect(engine.get(Buffer.from('q1'))?.value?.toString()).toBe('one')
    expect(engine.digest(ALL)).not.toEqual(before)
    expect(engine.totals().keys).toBe(2)
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

  it('given old tombstones in two ranges, when one range is purged below a cutoff, then only its older tombstones go and the digest equals a replica that never had them', async () => {
    const {engine} = open()
    const {engine: other} = open()
    const [left, right] = splitRange(ALL, HASH_SPACE / 2)
    const keys = Array.from({length: 40}, (_, i) => `k${i}`)
    for (const k of keys) await engine.apply([rec(k, v(100), 'x'), rec(k, v(200), null)])
    await engine.apply([rec('fresh', v(900), null)])
    await other.apply([rec('fresh', v(900), null)])
    const inLeft = keys.filter((k) => keyHash(Buffer.from(k)) < HASH_SPACE / 2).length
    expect(await engine.purgeTombstones(left, 200)).toBe(0) // strictly older than the cutoff
    expect(await engine.purgeTombstones(left, 1000)).toBe(inLeft + (keyHash(Buffer.from('fresh')) < HASH_SPACE / 2 ? 1 : 0))
    expect(engine.totals().keys).toBeGreaterThan(0)
    expect(await engine.purgeTombstones(right, 500)).toBe(keys.length - inLeft)
    await other.apply([rec('fresh', v(900), null)])
    expect(engine.digest(right)).toEqual(other.digest(right))
  })

  it('given two replicas, when they hold the same records (any order, repeats), then digests are equal; one differing record changes exactly one bucket', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({k: fc.integer({min: 0, max: 40}), wall: fc.integer({min: 1, max: 5}), del: fc.boolean()}), {minLength: 1, maxLength: 40}),
        async (ops) => {
          const {engine: a} = open({writerThread: false})
          const {engine: b} = open({writerThread: false})
          const records = ops.map((o) => rec(`k${o.k}`, v(o.wall, 0, o.del ? 'd' : 'w'), o.del ? null : `val${o.wall}`))
          for (const r of records) await a.apply([r])
          await b.apply([...records].reverse())
          await b.apply(records.slice(0, 5))
          expect(a.digest(ALL)).toEqual(b.digest(ALL))
          await b.apply([rec('extra-key', v(9), 'x')])
          const da = a.digest(ALL)
          const db = b.digest(ALL)
          expect(da.buckets.filter((x, i) => x !== db.buckets[i]).length).toBe(1)
          await a.close()
          await b.close()
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
        const {engine: only} = open({writerThread: false})
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
    const listing = await engine.listBuckets(range, [9999, 5, 0, 5])
    expect(listing.answered).toBe(3) // 0, 5 and 9999 (beyond the layout: nothing in it)
    const listed = decodeRecords(listing.batch)
    expect(listing.records).toBe(listed.length)
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
    await engine.close()
    const {engine: again} = open({nodeId: 'n1'}, dir)
    expect(again.get(Buffer.from('persist'))?.value?.toString()).toBe('yes')
    expect(again.digest(ALL)).toEqual(d)
    await again.close()
    expect(() => StorageEngine.open({dir, nodeId: 'n2', tombstoneGraceMs: 1})).toThrow(/belongs to node "n1"/)
  })

  it('given client writes and copy frames of the same keys racing through the writer thread, when all settle, then every key holds the LWW maximum and the digest equals a replica that took them in another order', async () => {
    const {engine} = open()
    const {engine: other} = open({writerThread: false})
    const keys = 60
    const all: NodeRecord[] = []
    const pending: Promise<unknown>[] = []
    // Copy frames carry old and new versions of every key; client writes interleave single
    // records with versions above and below them. Nothing is awaited until the end, so the
    // queue holds applies and copy frames mixed, in the order issued.
    for (let round = 0; round < 6; round++) {
      const frame = Array.from({length: keys}, (_, k) => rec(`race-${k}`, v(100 + ((k * 7 + round * 13) % 50), round, 'c'), round % 3 === 0 && k % 5 === 0 ? null : `copy-${round}-${k}`))
      all.push(...frame)
      pending.push(engine.applyCopyBatch(frame, 'copy/race', JSON.stringify({round})))
      for (let k = round; k < keys; k += 6) {
        const r = rec(`race-${k}`, v(100 + ((k * 11 + round * 5) % 60), 9, 'w'), `client-${round}-${k}`)
        all.push(r)
        pending.push(engine.apply([r]))
      }
    }
    await Promise.all(pending)
    const expected = new Map<string, NodeRecord>()
    for (const r of all) {
      const k = r.key.toString()
      const cur = expected.get(k)
      if (!cur || compareRecords(r, cur) > 0) expected.set(k, r)
    }
    for (const [k, r] of expected) expect(engine.get(Buffer.from(k))).toEqual({key: Buffer.from(k), version: r.version, value: r.value})
    await other.apply([...all].reverse())
    expect(engine.digest(ALL)).toEqual(other.digest(ALL))
    expect(engine.metaValue('copy/race')).toBe(JSON.stringify({round: 5}))
  })

  it('given a large copy frame committing in the writer thread, when it is in flight, then the event loop keeps turning and reads are served before it is durable', async () => {
    const {engine} = open({synchronous: 'FULL'})
    await engine.apply([rec('before', v(1), 'here')])
    const frame = Array.from({length: 256}, (_, i) => ({key: Buffer.from(`big-${i}`), version: v(2), value: Buffer.alloc(64 * 1024, i)}))
    let settled = false
    const copy = engine.applyCopyBatch(frame, 'copy/big', '{}').then(() => (settled = true))
    let turns = 0
    let readWhilePending = false
    while (!settled && turns < 1_000_000) {
      await new Promise((r) => setImmediate(r))
      turns++
      if (!settled && engine.get(Buffer.from('before'))?.value?.toString() === 'here') readWhilePending = true
    }
    await copy
    // Synchronous commits on the event loop would resolve within a turn or two, with no read in between.
    expect(readWhilePending).toBe(true)
    expect(turns).toBeGreaterThan(3)
    expect(engine.rangeTotals(ALL).keys).toBe(257)
  })

  it('given a closed engine, when written to, then every write call rejects and nothing is queued', async () => {
    const {engine} = open()
    await engine.close()
    await expect(engine.apply([rec('late', v(1), 'x')])).rejects.toThrow(/closed/)
    await expect(engine.applyCopyBatch([rec('late', v(1), 'x')], 'copy/x', '{}')).rejects.toThrow(/closed/)
    await expect(engine.setMetaValue('x', 'y')).rejects.toThrow(/closed/)
    await expect(engine.purgeTombstones(ALL, 1)).rejects.toThrow(/closed/)
  })
})
