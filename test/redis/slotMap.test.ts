import fc from 'fast-check'
import {describe, expect, it} from 'vitest'
import {HASH_SPACE} from '../../src/model/hash.js'
import {checkTiling, splitRange} from '../../src/model/range.js'
import {rangeOfSlots, SLOT_COUNT, slotsOfRange} from '../../src/redis/slotMap.js'

describe('slot <-> hash range mapping', () => {
  it('maps the whole slot space onto the whole hash space', () => {
    expect(rangeOfSlots(0, SLOT_COUNT)).toEqual({lo: 0, hi: HASH_SPACE})
    expect(slotsOfRange(rangeOfSlots(100, 228))).toEqual({first: 100, end: 228})
    expect(() => rangeOfSlots(5, 5)).toThrow(RangeError)
    expect(() => rangeOfSlots(0, SLOT_COUNT + 1)).toThrow(RangeError)
  })

  it('gives every slot to exactly one shard of any tiling, including splits inside a slot', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({min: 1, max: HASH_SPACE - 1}), {maxLength: 40}), (cuts) => {
        const points = [0, ...cuts.sort((a, b) => a - b), HASH_SPACE]
        const ranges = points.slice(1).map((hi, i) => ({lo: points[i]!, hi}))
        expect(checkTiling(ranges)).toBeUndefined()
        const owners = new Array<number>(SLOT_COUNT).fill(0)
        for (const r of ranges) {
          const {first, end} = slotsOfRange(r)
          for (let s = first; s < end; s++) owners[s]!++
        }
        expect(owners.every((c) => c === 1)).toBe(true)
      }),
      {numRuns: 200},
    )
  })

  it('a planner split at a hash midpoint inside a slot keeps that slot in the lower half', () => {
    const r = rangeOfSlots(10, 13) // 3 slots: the midpoint falls inside slot 11
    const [lo, hi] = splitRange(r, r.lo + Math.floor((r.hi - r.lo) / 2))
    expect(slotsOfRange(lo)).toEqual({first: 10, end: 12})
    expect(slotsOfRange(hi)).toEqual({first: 12, end: 13})
  })
})
