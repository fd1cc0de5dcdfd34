import {describe, expect, it} from 'vitest'
import {seededRandom} from '../../bench/seededRandom.js'
import {type HashRange} from '../../src/model/range.js'
import {FINE_WIDTH} from '../../src/node/digestLayout.js'
import {type NodeRecord} from '../../src/node/protocol.js'
import {ALL, engineFixture, rec, v} from './engineFixture.js'
import {expectRowsWhereServed, expectSameKeyReads as expectSameReads, expectSplitEndsLikeTwin, keysIn, RANGES, S1, S2, SPAN1, SPAN2, splitDir, storeHashes} from './rangeStoreFixture.js'

// The clock is far past the records' versions, so adopted floors (<= clock + bound) are taken.
const open = engineFixture('rangepurges', {writerThread: false, readRangeStores: true, clock: () => 1_000_000})

/** split opens an engine on a fresh dir split over the main file and the empty range stores S1 and S2. */
const split = (writerThread = false) => splitDir(open, writerThread)

/** EDGES are the span edges a random range crosses. */
const EDGES = [SPAN1.lo, SPAN1.hi, SPAN2.hi]

/** edgeRange is a random range around a span edge, a few fine buckets wide, unaligned. */
function edgeRange(rnd: () => number): HashRange {
  const edge = EDGES[Math.floor(rnd() * EDGES.length)]!
  const lo = edge - Math.floor(rnd() * 3 * FINE_WIDTH * 1000)
  return {lo, hi: edge + 1 + Math.floor(rnd() * 3 * FINE_WIDTH * 1000)}
}

describe('range store purges, drops and floors (issue 12 stage 1 step 5)', () => {
  it('given a dir split over the main file and two unaligned range stores, when seeded random writes, purges, drops, floor drops and forgets run over ranges crossing span edges, then every result, read and digest equals a one-file twin, also after reopening', {timeout: 180_000}, async () => {
    for (const seed of [11, 12, 13]) {
      const rnd = seededRandom(seed)
      const {engine: one} = open()
      const {engine: two, dir} = await split()
      const keys = [...keysIn(ALL, 150, `a${seed}-`), ...keysIn(SPAN1, 60, `b${seed}-`), ...keysIn(SPAN2, 60, `c${seed}-`)]
      const pick = () => keys[Math.floor(rnd() * keys.length)]!
      const value = () => (rnd() < 0.3 ? null : rnd() < 0.05 ? 'y'.repeat(3000) : `value-${Math.floor(rnd() * 1e6)}`)
      const record = (): NodeRecord => rec(pick(), v(1000 + Math.floor(rnd() * 800), Math.floor(rnd() * 3)), value())
      const range = () => (rnd() < 0.5 ? edgeRange(rnd) : RANGES[Math.floor(rnd() * RANGES.length)]!)
      for (let round = 0; round < 30; round++) {
        const writes = Array.from({length: 10 + Math.floor(rnd() * 30)}, record)
        expect(await two.apply(writes)).toEqual(await one.apply(writes))
        const kind = rnd()
        const r = range()
        if (kind < 0.35) {
          const before = 1000 + Math.floor(rnd() * 900)
          const limit = 1 + Math.floor(rnd() * 40)
          // Batches as the purge endpoint runs them: which tombstones a batch takes differs
          // (each file's oldest first), but each takes as many, and the last one leaves none.
          for (let n = limit; n === limit; ) {
            n = await two.purgeTombstones(r, before, limit)
            expect(n).toBe(await one.purgeTombstones(r, before, limit))
          }
        } else if (kind < 0.6) {
          // Only smaller ranges, so the dir keeps rows to compare.
          const small = edgeRange(rnd)
          expect(await two.deleteRange(small)).toBe(await one.deleteRange(small))
        } else if (kind < 0.8) {
          const before = 1000 + Math.floor(rnd() * 900)
          const ranges = [r, edgeRange(rnd)]
          expect(await two.forgetValuesBefore(ranges, before)).toBe(await one.forgetValuesBefore(ranges, before))
        }
        if (round % 10 === 9) expectSameReads(one, two, keys)
      }
      // Floors adopted with their values dropped, last: a floor screens later repair writes.
      const floors = [{...edgeRange(rnd), floor: 1500}, {...SPAN2, floor: 1300}]
      expect(await two.adoptFloors(ALL, floors, true)).toBe(await one.adoptFloors(ALL, floors, true))
      expect(two.floorsOver(ALL)).toEqual(one.floorsOver(ALL))
      // Reopened too: the floors are kept in the main file.
      const again = await expectSplitEndsLikeTwin(open, one, two, dir, keys)
      expect(again.floorsOver(ALL)).toEqual(one.floorsOver(ALL))
    }
  })

  it('given big rows in one range store and small ones around it, when a range crossing every span is dropped, then every store empties it (the id pass where rows are small, slices where big) and reads equal a one-file twin', async () => {
    const {engine: one} = open()
    const {engine: two, dir} = await split()
    const records = [
      ...keysIn({lo: 0, hi: SPAN1.lo}, 40, 'm').map((k, i) => rec(k, v(1000 + i), `small${i}`)),
      ...keysIn(SPAN1, 30, 'b').map((k, i) => rec(k, v(1000 + i), 'z'.repeat(4000))),
      ...keysIn(SPAN2, 40, 's').map((k, i) => rec(k, v(1000 + i), i % 5 === 0 ? null : `small${i}`)),
      ...keysIn({lo: SPAN2.hi, hi: ALL.hi}, 40, 'n').map((k, i) => rec(k, v(1000 + i), `small${i}`)),
    ]
    await one.apply(records)
    await two.apply(records)
    const drop = {lo: SPAN1.lo - 1_000_000, hi: SPAN2.hi + 1_000_000}
    expect(await two.deleteRange(drop)).toBe(await one.deleteRange(drop))
    expectSameReads(
      one,
      two,
      records.map((r) => r.key.toString()),
    )
    expect(storeHashes(dir, S1)).toEqual([])
    expect(storeHashes(dir, S2)).toEqual([])
    expect(two.scan(drop, undefined, 1 << 24).records).toEqual([])
  })

  it('given the writer thread, when a drop over both spans races client writes queued in the writer between its transactions, then every store\'s digest cells match its rows, rows lie where served, and the writes queued after the drop ended survive', {timeout: 60_000}, async () => {
    const {engine: two, dir} = await split(true)
    const keys = [...keysIn({lo: SPAN1.lo - 5_000_000, hi: SPAN1.lo}, 300, 'm'), ...keysIn(SPAN1, 1500, 'b'), ...keysIn(SPAN2, 1500, 's')]
    await two.apply(keys.map((k, i) => rec(k, v(1000 + i), `v${i}`)))
    const drop = {lo: SPAN1.lo - 5_000_000, hi: SPAN2.hi}
    let dropping = true
    const dropped = two.deleteRange(drop).finally(() => (dropping = false))
    // Writes into the dropped range keep arriving while the drop runs: each lands between two of its transactions.
    const racing: Promise<unknown>[] = []
    for (let i = 0; dropping && i < 200; i++) {
      racing.push(two.apply([rec(keys[(i * 37) % keys.length]!, v(5000 + i), `race${i}`)], {clientWrite: true}))
      await new Promise((resolve) => setImmediate(resolve))
    }
    await dropped
    await Promise.all(racing)
    expect(racing.length).toBeGreaterThan(0)
    // Nothing written before the drop is left in any store: what the range holds came from the racing writes.
    expect(two.scan(drop, undefined, 1 << 24).records.filter((r) => r.version < v(5000))).toEqual([])
    const after = keys.slice(0, 50).map((k, i) => rec(k, v(9000 + i), `after${i}`))
    await two.apply(after, {clientWrite: true})
    // A one-file twin holding exactly the split dir's rows: every read and digest (from the cells) must equal it.
    const {engine: one} = open()
    const held = two.scan(ALL, undefined, 1 << 24).records
    await one.apply(held)
    expectSameReads(one, two, keys)
    expectRowsWhereServed(dir)
    for (const r of after) expect(two.get(r.key)).toEqual(r)
    await two.close()
    const again = open({}, dir).engine
    expectSameReads(one, again, keys)
  })
})
