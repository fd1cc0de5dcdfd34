import fc from 'fast-check'
import {describe, expect, it} from 'vitest'
import {HASH_SPACE} from '../../src/model/hash.js'
import {checkTiling, evenRanges, findRange, rangeContains, rangeMidpoint, rangeSize, splitRange} from '../../src/model/range.js'

describe('evenRanges', () => {
  it('tiles the hash space with near-equal ranges for any count', () => {
    fc.assert(
      fc.property(fc.integer({min: 1, max: 5000}), (n) => {
        const ranges = evenRanges(n)
        expect(ranges).toHaveLength(n)
        expect(checkTiling(ranges)).toBeUndefined()
        const sizes = ranges.map(rangeSize)
        expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1)
      }),
      {numRuns: 50},
    )
  })

  it('rejects counts outside 1..2^20', () => {
    expect(() => evenRanges(0)).toThrow(RangeError)
    expect(() => evenRanges(1.5)).toThrow(RangeError)
    expect(() => evenRanges(2 ** 20 + 1)).toThrow(RangeError)
  })
})

describe('findRange', () => {
  it('finds the one range containing every hash', () => {
    const ranges = evenRanges(37)
    fc.assert(
      fc.property(fc.integer({min: 0, max: HASH_SPACE - 1}), (h) => {
        const i = findRange(ranges, h)
        expect(rangeContains(ranges[i]!, h)).toBe(true)
      }),
    )
    expect(findRange(ranges, HASH_SPACE)).toBe(-1)
  })
})

describe('splitRange', () => {
  it('splits at the midpoint into two non-empty halves that tile the original', () => {
    const r = {lo: 10, hi: 21}
    const mid = rangeMidpoint(r)!
    const [a, b] = splitRange(r, mid)
    expect(a.lo).toBe(10)
    expect(b.hi).toBe(21)
    expect(a.hi).toBe(b.lo)
    expect(rangeSize(a) + rangeSize(b)).toBe(rangeSize(r))
    expect(rangeMidpoint({lo: 5, hi: 6})).toBeUndefined()
    expect(() => splitRange(r, 10)).toThrow(RangeError)
    expect(() => splitRange(r, 21)).toThrow(RangeError)
  })
})

describe('checkTiling', () => {
  it('names gaps and overlaps', () => {
    expect(checkTiling([{lo: 0, hi: 10}])).toMatch(/gap .*\[10, 4294967296\)/)
    expect(checkTiling([{lo: 0, hi: 10}, {lo: 5, hi: HASH_SPACE}])).toMatch(/overlap at 5/)
    expect(checkTiling([{lo: 1, hi: HASH_SPACE}])).toMatch(/gap .*\[0, 1\)/)
  })
})
