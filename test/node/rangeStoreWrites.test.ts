import {describe, expect, it, vi} from 'vitest'
import {seededRandom} from '../../bench/seededRandom.js'
import {keyHash} from '../../src/model/hash.js'
import {LwwWriter} from '../../src/node/lwwSql.js'
import {type NodeRecord} from '../../src/node/protocol.js'
import {ALL, engineFixture, rec, v} from './engineFixture.js'
import {expectRowsWhereServed, expectSameKeyReads as expectSameReads, expectSplitEndsLikeTwin, keysIn, S1, S2, SPAN1, SPAN2, splitDir, storeMeta} from './rangeStoreFixture.js'

const open = engineFixture('rangewrites', {writerThread: false, readRangeStores: true})

/** split opens an engine on a fresh dir split over the main file and the empty range stores S1 and S2. */
const split = (writerThread = false) => splitDir(open, writerThread)

describe('range store writes (issue 12 stage 1 step 4)', () => {
  it('given a dir split over the main file and two unaligned range stores, when random writes, deletes, copy frames and learner writes run (seeded), then every record lands in the store serving its h and every read, digest and apply result equals a one-file twin', {timeout: 120_000}, async () => {
    for (const seed of [1, 2, 3]) {
      const rnd = seededRandom(seed)
      const {engine: one} = open()
      const {engine: two, dir} = await split()
      const keys = Array.from({length: 240}, (_, i) => `key-${seed}-${i}`)
      const pick = () => keys[Math.floor(rnd() * keys.length)]!
      const record = (): NodeRecord => rec(pick(), v(1000 + Math.floor(rnd() * 800), Math.floor(rnd() * 3)), rnd() < 0.2 ? null : rnd() < 0.1 ? 'x'.repeat(700) : `value-${Math.floor(rnd() * 1e6)}`)
      for (let round = 0; round < 40; round++) {
        const kind = rnd()
        if (kind < 0.5) {
          // Several calls queued in one turn: one group commit, spanning stores.
          const calls = Array.from({length: 1 + Math.floor(rnd() * 4)}, () => ({records: Array.from({length: 1 + Math.floor(rnd() * 12)}, record), clientWrite: rnd() < 0.5}))
          const a = await Promise.all(calls.map((c) => one.apply(c.records, {clientWrite: c.clientWrite})))
          const b = await Promise.all(calls.map((c) => two.apply(c.records, {clientWrite: c.clientWrite})))
          expect(b).toEqual(a)
        } else {
          const frame = Array.from({length: Math.floor(rnd() * 20)}, record).sort((x, y) => keyHash(x.key) - keyHash(y.key))
          const durable = rnd() < 0.3
          const state = JSON.stringify({round})
          expect(await two.applyCopyBatch(frame, 'copy/7', state, undefined, durable)).toEqual(await one.applyCopyBatch(frame, 'copy/7', state, undefined, durable))
          expect(two.metaValue('copy/7')).toBe(state)
        }
        if (round % 10 === 9) expectSameReads(one, two, keys)
      }
      await expectSplitEndsLikeTwin(open, one, two, dir, keys)
    }
  })

  it('given the writer thread, when client writes span every store, then they land where served and reads and digests equal a one-file twin', async () => {
    const {engine: one} = open()
    const {engine: two, dir} = await split(true)
    const records = [...keysIn(ALL, 30, 'a'), ...keysIn(SPAN1, 20, 'b'), ...keysIn(SPAN2, 20, 'c')].map((k, i) => rec(k, v(2000 + i), i % 6 === 0 ? null : `v${i}`))
    await Promise.all([one.apply(records, {clientWrite: true}), one.apply(records.slice(0, 10), {})])
    await Promise.all([two.apply(records, {clientWrite: true}), two.apply(records.slice(0, 10), {})])
    expectSameReads(one, two, records.map((r) => r.key.toString()))
    expectRowsWhereServed(dir)
  })

  it('given a copy whose frames cross from the main file into a range store, when frames commit, then the resume state lives in the store of each frame\'s last part, in one file only, and a removal deletes it everywhere', async () => {
    const {engine, dir} = await split()
    const main = keysIn({lo: 0, hi: SPAN1.lo}, 3, 'm')
    const first = keysIn(SPAN1, 3, 's')
    const frame = (ks: string[], wall: number) => ks.map((k) => rec(k, v(wall), 'x')).sort((a, b) => keyHash(a.key) - keyHash(b.key))
    await engine.applyCopyBatch(frame(main, 1), 'copy/1', 'one', undefined, false)
    expect(storeMeta(dir, undefined, 'copy/1')).toBe('one')
    // Across the edge: the state goes with the part in S1, and the main file's copy is gone.
    await engine.applyCopyBatch(frame([...main, ...first], 2), 'copy/1', 'two', undefined, false)
    expect(storeMeta(dir, undefined, 'copy/1')).toBeUndefined()
    expect(storeMeta(dir, S1, 'copy/1')).toBe('two')
    expect(engine.metaValue('copy/1')).toBe('two')
    // An empty frame keeps the state where it is.
    await engine.applyCopyBatch([], 'copy/1', 'three', undefined, true)
    expect(storeMeta(dir, S1, 'copy/1')).toBe('three')
    await engine.setMetaValue('copy/1', null)
    expect(engine.metaValue('copy/1')).toBeUndefined()
    for (const s of [undefined, S1, S2]) expect(storeMeta(dir, s, 'copy/1')).toBeUndefined()
  })

  it('given a copy\'s resume state in the main file, when the frame that carries it into a range store stops before any one of its commits (a disk error, or a crash there), then a resume state is still stored, the one before the frame or after it, never none (a lost state restarts the copy as a fresh one, whose floor adoption deletes below the source\'s floor what earlier frames brought)', async () => {
    const main = keysIn({lo: 0, hi: SPAN1.lo}, 3, 'm')
    const first = keysIn(SPAN1, 3, 's')
    const frame = (ks: string[], wall: number) => ks.map((k) => rec(k, v(wall), 'x')).sort((a, b) => keyHash(a.key) - keyHash(b.key))
    const original = LwwWriter.prototype.inTransaction
    // The frame commits a few transactions (its parts, the state, a deletion): stop before each in turn.
    for (let stopAt = 1; stopAt <= 3; stopAt++) {
      const {engine, dir} = await split()
      await engine.applyCopyBatch(frame(main, 1), 'copy/1', 'one', undefined, false)
      expect(storeMeta(dir, undefined, 'copy/1')).toBe('one')
      let n = 0
      const spy = vi.spyOn(LwwWriter.prototype, 'inTransaction').mockImplementation(function (this: LwwWriter, body) {
        if (++n === stopAt) throw new Error('disk gone')
        return original.call(this, body)
      })
      try {
        await engine.applyCopyBatch(frame([...main, ...first], 2), 'copy/1', 'two', undefined, false).catch(() => undefined)
      } finally {
        spy.mockRestore()
      }
      expect(['one', 'two']).toContain(engine.metaValue('copy/1'))
      await engine.close()
      // On disk too: reopened, as after a crash at that point.
      const again = open({}, dir).engine
      expect(['one', 'two']).toContain(again.metaValue('copy/1'))
      // The next frame leaves the state in one file only.
      await again.applyCopyBatch(frame(first, 3), 'copy/1', 'three', undefined, false)
      expect(again.metaValue('copy/1')).toBe('three')
      expect([undefined, S1, S2].map((s) => storeMeta(dir, s, 'copy/1'))).toEqual([undefined, 'three', undefined])
    }
  })

  it('given a group of writes spanning three stores, when it commits, then it is acknowledged only after the last store committed; when a later store fails, then it is rejected and the cells of the stores that committed match their rows', async () => {
    const {engine: one} = open()
    const {engine: two} = await split()
    const records = [...keysIn({lo: 0, hi: SPAN1.lo}, 2, 'm'), ...keysIn(SPAN1, 2, 's'), ...keysIn(SPAN2, 2, 't')].map((k, i) => rec(k, v(3000 + i), `v${i}`))
    const events: string[] = []
    const original = LwwWriter.prototype.inTransaction
    const spy = vi.spyOn(LwwWriter.prototype, 'inTransaction').mockImplementation(function (this: LwwWriter, body) {
      const done = original.call(this, body)
      events.push('commit')
      return done
    })
    try {
      await two.apply(records, {clientWrite: true}).then(() => events.push('acked'))
      expect(events).toEqual(['commit', 'commit', 'commit', 'acked'])
      // The second store's commit fails: the group is rejected, the first store's commit stays (LWW, never acknowledged).
      let n = 0
      spy.mockImplementation(function (this: LwwWriter, body) {
        if (++n === 2) throw new Error('disk gone')
        return original.call(this, body)
      })
      const next = records.map((r, i) => rec(r.key.toString(), v(4000 + i), `w${i}`))
      await expect(two.apply(next, {clientWrite: true})).rejects.toThrow('disk gone')
    } finally {
      spy.mockRestore()
    }
    // The twin holds what two's rows hold; the digests (cells, including the part that committed) equal it.
    const held = two.scan(ALL, undefined, 1 << 24).records
    expect(held.some((r) => r.version === v(4000))).toBe(true)
    await one.apply(held)
    expectSameReads(one, two, records.map((r) => r.key.toString()))
  })

  it('given range stores, when a digest is read after a range store committed but before the cache took its cells, then it equals a one-file twin (per-store stale cells)', async () => {
    const {engine: one} = open()
    const {engine: two} = await split()
    const base = keysIn(SPAN2, 40, 'd').map((k, i) => rec(k, v(5000 + i), `v${i}`))
    await one.apply(base)
    await two.apply(base)
    const more = keysIn(SPAN2, 40, 'd').map((k, i) => rec(k, v(6000 + i), `w${i}`))
    await one.apply(more)
    const seen: unknown[] = []
    const original = LwwWriter.prototype.inTransaction
    const spy = vi.spyOn(LwwWriter.prototype, 'inTransaction').mockImplementation(function (this: LwwWriter, body) {
      const done = original.call(this, body)
      // Committed in S2's file; the engine's cache of S2 takes the changes only with the reply.
      seen.push(two.digest(SPAN2), two.digest(ALL), two.rangeTotals(SPAN2))
      return done
    })
    try {
      await two.apply(more)
    } finally {
      spy.mockRestore()
    }
    expect(seen).toEqual([one.digest(SPAN2), one.digest(ALL), one.rangeTotals(SPAN2)])
  })
})
