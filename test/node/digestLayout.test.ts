import fc from 'fast-check'
import {describe, expect, it} from 'vitest'
import {HASH_SPACE} from '../../src/model/hash.js'
import {DIGEST_BUCKETS, digestLayout, FINE_WIDTH} from '../../src/node/digestLayout.js'

describe('digestLayout', () => {
  it('given any range, when laid out, then buckets tile it with inner bounds on fine-bucket boundaries', () => {
    fc.assert(
      fc.property(fc.integer({min: 0, max: HASH_SPACE - 1}), fc.integer({min: 1, max: HASH_SPACE}), (a, b) => {
        const lo = Math.min(a, b - 1)
        const hi = Math.max(a + 1, b)
        if (lo >= hi || hi > HASH_SPACE) return
        const {bounds} = digestLayout({lo, hi})
        expect(bounds[0]).toBe(lo)
        expect(bounds[bounds.length - 1]).toBe(hi)
        expect(bounds.length - 1).toBeLessThanOrEqual(DIGEST_BUCKETS)
        for (let i = 1; i < bounds.length; i++) expect(bounds[i]!).toBeGreaterThan(bounds[i - 1]!)
        for (let i = 1; i < bounds.length - 1; i++) expect(bounds[i]! % FINE_WIDTH).toBe(0)
      }),
    )
  })

  it('given the whole hash space, when laid out, then there are 256 equal buckets', () => {
    const {bounds} = digestLayout({lo: 0, hi: HASH_SPACE})
    expect(bounds.length).toBe(257)
    expect(bounds[1]).toBe(HASH_SPACE / 256)
  })
})
