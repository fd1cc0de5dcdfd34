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
        if (lo >= hi || hi > HASH_SPACE) return true
        const {bounds} = digestLayout({lo, hi})
        if (bounds[0] !== lo || bounds[bounds.length - 1] !== hi) return false
        if (bounds.length - 1 > DIGEST_BUCKETS) return false
        for (let i = 1; i < bounds.length; i++) if (bounds[i]! <= bounds[i - 1]!) return false
        for (let i = 1; i < bounds.length - 1; i++) if (bounds[i]! % FINE_WIDTH !== 0) return false
        return true
      }),
    )
  }, 30_000)

  it('given the whole hash space, when laid out, then there are 256 equal buckets', () => {
    const {bounds} = digestLayout({lo: 0, hi: HASH_SPACE})
    expect(bounds.length).toBe(257)
    expect(bounds[1]).toBe(HASH_SPACE / 256)
  })
})
