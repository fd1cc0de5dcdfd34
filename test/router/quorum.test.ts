import fc from 'fast-check'
import {describe, expect, it} from 'vitest'
import {majority} from '../../src/model/majority.js'
import {readPlan, writeQuorum, writeSatisfied, writeStillPossible} from '../../src/router/quorum.js'
import {shardOf} from './fixtures.js'

const set = (s: string) => new Set(s.split(/\s+/).filter(Boolean))

describe('writeQuorum', () => {
  it('defaults to a majority of voters: rf 3 → w 2, rf 1 → w 1', () => {
    expect(writeQuorum(shardOf(0, 'a b c')).w).toBe(2)
    expect(writeQuorum(shardOf(0, 'a')).w).toBe(1)
    expect(majority(5)).toBe(3)
  })

  it('writes to voters, joining and outgoing replicas but never to leaving ones', () => {
    expect(writeQuorum(shardOf(0, 'a b c d:joining')).targets).toEqual(['a', 'b', 'c', 'd'])
    expect(writeQuorum(shardOf(0, 'a:outgoing b c d')).targets).toEqual(['b', 'c', 'd', 'a'])
    expect(writeQuorum(shardOf(0, 'a:leaving b c d')).targets).toEqual(['b', 'c', 'd'])
  })

  it('clamps --w to the voter count and rejects non-positive values', () => {
    expect(writeQuorum(shardOf(0, 'a'), {w: 3}).w).toBe(1)
    expect(() => writeQuorum(shardOf(0, 'a'), {w: 0})).toThrow(RangeError)
  })
})

describe('writeSatisfied', () => {
  it('needs w voters when no move is in flight', () => {
    const q = writeQuorum(shardOf(0, 'a b c'))
    expect(writeSatisfied(q, set('a'))).toBe(false)
    expect(writeSatisfied(q, set('a c'))).toBe(true)
  })

  it('rf 3 joining: needs w + 1 acks of which w voters (joint quorum)', () => {
    const q = writeQuorum(shardOf(0, 'a b c d:joining'))
    expect(writeSatisfied(q, set('a b'))).toBe(false) // if a is the source, N = {b c d} has only b
    expect(writeSatisfied(q, set('a d'))).toBe(false) // only one voter
    expect(writeSatisfied(q, set('a b d'))).toBe(true)
    expect(writeSatisfied(q, set('a b c'))).toBe(true)
  })

  it('rf 3 after cutover (source outgoing): the same joint rule from the other side', () => {
    const q = writeQuorum(shardOf(0, 'b c d a:outgoing'))
    expect(writeSatisfied(q, set('b d'))).toBe(false)
    expect(writeSatisfied(q, set('b d a'))).toBe(true)
    expect(writeSatisfied(q, set('b c d'))).toBe(true)
  })

  it('rf 1 during a move: both source and destination must ack', () => {
    const joining = writeQuorum(shardOf(0, 'a d:joining'))
    expect(writeSatisfied(joining, set('a'))).toBe(false)
    expect(writeSatisfied(joining, set('d'))).toBe(false)
    expect(writeSatisfied(joining, set('a d'))).toBe(true)
    const cutover = writeQuorum(shardOf(0, 'd a:outgoing'))
    expect(writeSatisfied(cutover, set('d'))).toBe(false)
    expect(writeSatisfied(cutover, set('a d'))).toBe(true)
  })

  it('any satisfying ack set holds w of the old set AND w of the new set, whichever voter is replaced', () => {
    // Property over rf 1..5, w 1..rf, every ack subset, every possible source voter.
    fc.assert(
      fc.property(fc.integer({min: 1, max: 5}), fc.integer({min: 1, max: 5}), fc.array(fc.boolean(), {minLength: 6, maxLength: 6}), (rf, wRaw, bits) => {
        const voters = Array.from({length: rf}, (_, i) => `v${i}`)
        const w = Math.min(wRaw, rf)
        const q = writeQuorum(shardOf(0, `${voters.join(' ')} dst:joining`), {w})
        const all = [...voters, 'dst']
        const acked = new Set(all.filter((_, i) => bits[i]))
        if (!writeSatisfied(q, acked)) return
        for (const src of voters) {
          const oldSet = voters
          const newSet = [...voters.filter((v) => v !== src), 'dst']
          expect(oldSet.filter((n) => acked.has(n)).length).toBeGreaterThanOrEqual(w)
          expect(newSet.filter((n) => acked.has(n)).length).toBeGreaterThanOrEqual(w)
        }
      }),
      {numRuns: 300},
    )
  })

  it('a lone voter set of size 0 is never satisfied', () => {
    const q = writeQuorum(shardOf(0, 'a:leaving'))
    expect(writeSatisfied(q, set('a'))).toBe(false)
  })
})

describe('writeStillPossible', () => {
  it('fails fast once too many replicas failed', () => {
    const q = writeQuorum(shardOf(0, 'a b c'))
    expect(writeStillPossible(q, set('a'))).toBe(true)
    expect(writeStillPossible(q, set('a b'))).toBe(false)
    const joint = writeQuorum(shardOf(0, 'a b c d:joining'))
    expect(writeStillPossible(joint, set('d'))).toBe(true) // a b c still make it
    expect(writeStillPossible(joint, set('c d'))).toBe(false) // a b + nothing else: not joint
  })
})

describe('readPlan', () => {
  it('reads r voters only, never joining, outgoing or leaving replicas', () => {
    const p = readPlan(shardOf(0, 'a b c d:joining e:leaving'))
    expect(p.order).toEqual(['a', 'b', 'c'])
    expect(p.r).toBe(2)
    expect(readPlan(shardOf(0, 'b c d a:outgoing')).order).toEqual(['b', 'c', 'd'])
  })

  it('rotates the starting voter so reads spread and every replica is read in turn', () => {
    const s = shardOf(0, 'a b c')
    expect([0, 1, 2, 3].map((i) => readPlan(s, {}, i).order[0])).toEqual(['a', 'b', 'c', 'a'])
  })

  it('clamps --r to the voter count (rf 1 works with the rf 3 defaults)', () => {
    expect(readPlan(shardOf(0, 'a'), {r: 2}).r).toBe(1)
  })
})
