import {describe, expect, it} from 'vitest'
import {effectiveWriteQuorum, fallbackVoters, floorLimitsText, floorQuorums, lowerWriteFloor, newWriteFloor, parseWriteFloor, type WriteFloor} from '../../src/model/writeFloor.js'
import {majority} from '../../src/model/majority.js'

const NOW = '2026-12-03T21:00:00.000Z'
const empty = newWriteFloor(NOW)
/** quorumAt is the smallest write quorum the fallback assumes for a shard of `voters` voters under `floor` alone. */
const quorumAt = (voters: number, floor: WriteFloor | undefined) => effectiveWriteQuorum(voters, floorQuorums(floor))
/** after lowers `floor` by each router setting in turn (no write when it is already covered). */
const after = (floor: WriteFloor, ...ws: (number | null)[]) => ws.reduce((f, w) => lowerWriteFloor(f, w, 'r', NOW) ?? f, floor)

describe('the write floor (pure)', () => {
  it('absent or unreadable reads as w = 1 at every voter count (a cluster from before the floor may have run --w 1 routers)', () => {
    for (const v of [1, 2, 3, 5]) expect(quorumAt(v, undefined)).toBe(1)
    expect(parseWriteFloor('{not json')).toBeUndefined()
    expect(parseWriteFloor(JSON.stringify({...empty, w: 0}))).toBeUndefined()
    expect(floorQuorums(parseWriteFloor('{"version":1}'))).toEqual([undefined])
  })

  it('a new cluster\'s floor (no router yet) adds nothing: a majority, as with no router registered', () => {
    expect(floorQuorums(empty)).toEqual([])
    for (const v of [1, 2, 3, 5]) expect(quorumAt(v, empty)).toBe(majority(v))
  })

  it('a majority router: majority(V) per shard; an explicit --w: clamped to V; both: the smaller at each V', () => {
    const maj = after(empty, null)
    expect([1, 2, 3, 4, 5].map((v) => quorumAt(v, maj))).toEqual([1, 2, 2, 3, 3])
    const w2 = after(empty, 2)
    expect([1, 2, 3, 4, 5].map((v) => quorumAt(v, w2))).toEqual([1, 2, 2, 2, 2])
    const w3 = after(empty, 3)
    expect([1, 2, 3, 4, 5].map((v) => quorumAt(v, w3))).toEqual([1, 2, 3, 3, 3])
    // Neither part covers the other at every V: majority(3) = 2 < 3, majority(5) = 3 = 3, majority(7) = 4 > 3.
    const both = after(empty, 3, null)
    expect([3, 5, 7].map((v) => quorumAt(v, both))).toEqual([2, 3, 3])
    expect(both).toMatchObject({w: 3, majority: true})
  })

  it('only ever lowers: a larger --w, or a second majority router, writes nothing', () => {
    const w1 = after(empty, 1)
    expect(lowerWriteFloor(w1, 2, 'r2', NOW)).toBeUndefined()
    expect(lowerWriteFloor(w1, 1, 'r2', NOW)).toBeUndefined()
    const maj = after(empty, null)
    expect(lowerWriteFloor(maj, null, 'r2', NOW)).toBeUndefined()
    expect(lowerWriteFloor(maj, 2, 'r2', NOW)).toEqual({version: 1, w: 2, majority: true, updatedAt: NOW, by: 'r2'})
  })

  it('any order of routers gives the same floor, never above what any of them needs, at every voter count', () => {
    const settings: (number | null)[] = [null, 1, 2, 3, 4]
    // Every sequence of up to three routers, in every order.
    const seqs: (number | null)[][] = [[]]
    for (let n = 0; n < 3; n++) for (const s of [...seqs]) for (const w of settings) seqs.push([...s, w])
    for (const seq of seqs) {
      const floor = after(empty, ...seq)
      const reversed = after(empty, ...[...seq].reverse())
      for (let v = 1; v <= 7; v++) {
        expect(quorumAt(v, floor)).toBe(quorumAt(v, reversed))
        // What the routers themselves would publish: the floor is exactly their minimum.
        expect(quorumAt(v, floor)).toBe(effectiveWriteQuorum(v, seq))
      }
    }
  })
})

describe('the write floor in words (pure)', () => {
  it('names each limit present, --w first, and nothing for a floor no router has lowered', () => {
    expect(floorLimitsText(after(empty, 2))).toBe('--w 2')
    expect(floorLimitsText(after(empty, null))).toBe('majority')
    expect(floorLimitsText(after(empty, null, 3))).toBe('--w 3 and majority')
    expect(floorLimitsText(empty)).toBe('')
  })
})

describe('effectiveWriteQuorum', () => {
  it('is the smallest w any router uses, a majority by default, clamped to the voters', () => {
    expect(effectiveWriteQuorum(3, [])).toBe(2)
    expect(effectiveWriteQuorum(3, [null, null])).toBe(2)
    expect(effectiveWriteQuorum(3, [null, 1])).toBe(1)
    expect(effectiveWriteQuorum(3, [5])).toBe(3)
    expect(effectiveWriteQuorum(1, [null])).toBe(1)
  })
})

describe('fallbackVoters (from which shard size a write floor lets a move with a down source copy from the other voters)', () => {
  const floor = (w: number | null, majority: boolean): WriteFloor => ({version: 1, w, majority, updatedAt: '2026-12-04T03:00:00.000Z', by: null})
  it('is the smallest voter count whose quorum under the floor is >= 2', () => {
    expect(fallbackVoters(floor(2, false))).toBe(2)
    expect(fallbackVoters(floor(null, true))).toBe(2)
    expect(fallbackVoters(floor(3, true))).toBe(2)
    // A floor no router has lowered: a majority, as with no router registered.
    expect(fallbackVoters(floor(null, false))).toBe(2)
  })

  it('is undefined when --w 1 is in the floor: w = 1 at every shard size', () => {
    expect(fallbackVoters(floor(1, true))).toBeUndefined()
    expect(fallbackVoters(floor(1, false))).toBeUndefined()
  })
})
