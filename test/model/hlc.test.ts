import fc from 'fast-check'
import {describe, expect, it} from 'vitest'
import {compareHlc, formatHlc, HybridClock, parseHlc} from '../../src/model/hlc.js'

describe('HybridClock', () => {
  it('issues strictly increasing timestamps even when the wall clock goes backwards or stalls', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({min: 0, max: 2_000_000_000_000}), {minLength: 1, maxLength: 300}), (walls) => {
        let i = 0
        const clock = new HybridClock('r1', () => walls[i++ % walls.length]!)
        let prev = clock.now()
        for (let n = 1; n < walls.length; n++) {
          const next = clock.now()
          expect(compareHlc(next, prev)).toBeGreaterThan(0)
          prev = next
        }
      }),
    )
  })

  it('orders its next timestamp after any observed one', () => {
    const clock = new HybridClock('r1', () => 1000)
    clock.observe({wall: 5000, counter: 7, writer: 'r2'})
    const t = clock.now()
    expect(compareHlc(t, {wall: 5000, counter: 7, writer: 'r2'})).toBeGreaterThan(0)
  })

  it('never repeats when the counter is exhausted within one millisecond', () => {
    const clock = new HybridClock('r1', () => 1)
    let prev = clock.now()
    for (let n = 0; n < 1_000_100; n++) {
      const next = clock.now()
      if (compareHlc(next, prev) <= 0) throw new Error(`not increasing at ${n}`)
      prev = next
    }
    expect(prev.wall).toBe(2)
  })

  it('rejects writer ids that would break the encoding', () => {
    expect(() => new HybridClock('bad id', () => 0)).toThrow(RangeError)
  })
})

describe('formatHlc / parseHlc', () => {
  const arb = fc.record({wall: fc.integer({min: 0, max: 10 ** 15 - 1}), counter: fc.integer({min: 0, max: 999_999}), writer: fc.stringMatching(/^[A-Za-z0-9_-]{1,12}$/)})

  it('round-trips', () => {
    fc.assert(
      fc.property(arb, (t) => {
        expect(parseHlc(formatHlc(t))).toEqual(t)
      }),
    )
  })

  it('sorts as text in the same order as compareHlc', () => {
    fc.assert(
      fc.property(arb, arb, (a, b) => {
        const text = formatHlc(a) < formatHlc(b) ? -1 : formatHlc(a) > formatHlc(b) ? 1 : 0
        expect(Math.sign(compareHlc(a, b))).toBe(text)
      }),
    )
  })

  it('rejects malformed text', () => {
    for (const s of ['', '1.2.w', '000000000000001.000001.', 'x00000000000001.000001.w', '000000000000001.000001.a b']) expect(parseHlc(s)).toBeUndefined()
  })

  it('with maxAheadMs, observe folds in a far-future timestamp only up to its own clock plus the bound', () => {
    let wall = 10_000
    const capped = new HybridClock('r', () => wall, 500)
    capped.observe({wall: 99_000, counter: 7, writer: 'broken'})
    expect(capped.now().wall).toBe(10_500)
    capped.observe({wall: 10_200, counter: 3, writer: 'near'})
    const t = capped.now()
    expect(t.wall).toBe(10_500) // still above everything seen within the bound
    wall = 20_000
    expect(capped.now()).toMatchObject({wall: 20_000, counter: 0})
    const uncapped = new HybridClock('u', () => 10_000)
    uncapped.observe({wall: 99_000, counter: 7, writer: 'broken'})
    expect(uncapped.now()).toMatchObject({wall: 99_000, counter: 8})
  })
})
