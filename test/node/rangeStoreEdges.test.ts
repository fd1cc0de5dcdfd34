import {describe, expect, it} from 'vitest'
import {keyHash} from '../../src/model/hash.js'
import {type HashRange} from '../../src/model/range.js'
import {ALL, engineFixture, rec, v} from './engineFixture.js'
import {addRangeStores, expectSameReads, S1, S2, storeHashes, storeMeta} from './rangeStoreFixture.js'

const open = engineFixture('rangeedges', {writerThread: false, readRangeStores: true})

/** KEYS are 200 keys sorted by hash; the spans' edges are the hashes of four of them. */
const KEYS = Array.from({length: 200}, (_, i) => `edge-${i}`).sort((a, b) => keyHash(Buffer.from(a)) - keyHash(Buffer.from(b)))
const h = (k: string) => keyHash(Buffer.from(k))
/** b opens S1, c closes S1 and opens S2, d closes S2: each one hashes exactly to an edge. */
const [a, b, c, d] = [KEYS[20]!, KEYS[60]!, KEYS[120]!, KEYS[180]!]
const SPAN1: HashRange = {lo: h(b), hi: h(c)}
const SPAN2: HashRange = {lo: h(c), hi: h(d)}

/** EDGE_RANGES start or end at an edge hash, one past it, or one before it. */
const EDGE_RANGES: HashRange[] = [
  ALL,
  SPAN1,
  SPAN2,
  {lo: h(b), hi: h(b) + 1},
  {lo: h(c), hi: h(c) + 1},
  {lo: h(d), hi: h(d) + 1},
  {lo: h(b) - 1, hi: h(c) + 1},
  {lo: h(b) + 1, hi: h(c)},
  {lo: h(c) - 1, hi: h(d)},
  {lo: h(a), hi: h(d) + 1},
]

describe('range store edges (lo inclusive, hi exclusive)', () => {
  it('given spans whose edges are the hashes of written keys, when client writes and copy frames land, then a key at a span\'s lo is in its store, one at its hi in the next store or the main file, a frame\'s resume state goes with the store of its last key, and every read (scans paged one record at a time included) equals a one-file twin', async () => {
    const {engine: made, dir} = open()
    const id = made.dataDirId()
    await made.close()
    addRangeStores(dir, id, [
      [S1, SPAN1],
      [S2, SPAN2],
    ])
    const two = open({}, dir).engine
    const one = open().engine
    const records = KEYS.map((k, i) => rec(k, v(1000 + i), i % 7 === 0 ? null : `v${i}`))
    // One group spanning the three stores, its calls cut at the edges.
    const calls = [records.slice(0, 60), records.slice(60, 121), records.slice(121)]
    expect(await Promise.all(calls.map((r) => two.apply(r, {clientWrite: true})))).toEqual(await Promise.all(calls.map((r) => one.apply(r, {clientWrite: true}))))
    expect(storeHashes(dir, S1)).toContain(h(b))
    expect(storeHashes(dir, S1)).not.toContain(h(c))
    expect(storeHashes(dir, S2)).toContain(h(c))
    expect(storeHashes(dir, S2)).not.toContain(h(d))
    expect(storeHashes(dir, undefined)).toEqual(expect.arrayContaining([h(a), h(d), h(KEYS[59]!)]))
    expect(storeHashes(dir, undefined).filter((x) => x >= SPAN1.lo && x < SPAN2.hi)).toEqual([])

    // Copy frames ending exactly at an edge key: the state goes where that key is served.
    const frame = (from: number, to: number, wall: number) => KEYS.slice(from, to + 1).map((k) => rec(k, v(wall), `copied-${wall}`))
    const ends: [number, string | undefined][] = [
      [60, S1],
      [119, S1],
      [120, S2],
      [179, S2],
      [180, undefined],
    ]
    for (const [end, store] of ends) {
      const state = `up to ${end}`
      const f = frame(Math.max(0, end - 30), end, 2000 + end)
      expect(await two.applyCopyBatch(f, 'copy/9', state, undefined, false)).toEqual(await one.applyCopyBatch(f, 'copy/9', state, undefined, false))
      expect([undefined, S1, S2].map((s) => storeMeta(dir, s, 'copy/9'))).toEqual([undefined, S1, S2].map((s) => (s === store ? state : undefined)))
      expect(two.metaValue('copy/9')).toBe(state)
    }
    expectSameReads(one, two, KEYS.map((k) => Buffer.from(k)), [1, 200, 3000], EDGE_RANGES)
  })
})
