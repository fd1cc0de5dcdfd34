import fc from 'fast-check'
import {describe, expect, it} from 'vitest'
import {reserveAll, TokenBucket} from '../../src/throttle/tokenBucket.js'

describe('TokenBucket', () => {
  it('lets a second of bytes through, then makes callers wait at the rate', () => {
    let t = 0
    const b = new TokenBucket(1000, () => t)
    expect(b.take(1000)).toBe(0)
    expect(b.take(500)).toBe(500)
    t = 500
    expect(b.take(500)).toBe(500)
  })

  it('never lets more than rate × time + one burst through, for any request sizes and timings', () => {
    fc.assert(
      fc.property(fc.integer({min: 1, max: 10_000}), fc.array(fc.tuple(fc.integer({min: 1, max: 5000}), fc.integer({min: 0, max: 2000})), {minLength: 1, maxLength: 100}), (rate, steps) => {
        let t = 0
        const b = new TokenBucket(rate, () => t)
        let sentAt = 0
        let sent = 0
        for (const [bytes, gap] of steps) {
          t += gap
          const wait = b.take(bytes)
          sentAt = Math.max(sentAt, t + wait)
          sent += bytes
        }
        // Everything reserved is released by sentAt; it must respect the rate plus one burst.
        expect(sent).toBeLessThanOrEqual(rate + (sentAt / 1000) * rate + 1e-6 + Math.max(...steps.map((s) => s[0])))
      }),
    )
  })

  it('changes rate live and is unlimited with null', () => {
    let t = 0
    const b = new TokenBucket(100, () => t)
    b.take(100)
    b.setRate(null)
    expect(b.take(1e9)).toBe(0)
    b.setRate(1000)
    expect(b.take(2000)).toBeGreaterThan(0)
    expect(b.currentRate()).toBe(1000)
  })

  it('makes a copy wait for the tightest of several limits', () => {
    let t = 0
    const global = new TokenBucket(10_000, () => t)
    const node = new TokenBucket(1000, () => t)
    expect(reserveAll([global, node], 2000)).toBe(1000)
  })
})
