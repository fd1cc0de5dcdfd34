import {describe, expect, it} from 'vitest'
import {paceBySegments} from '../../bench/copyPace.js'

describe('paceBySegments', () => {
  it('gives each equal share of the bytes its own rate, interpolating the crossings between readings', () => {
    // 100 bytes in the first second, then 100 bytes over the next four: the copy slowed.
    const samples = [
      {t: 0, bytes: 0},
      {t: 1000, bytes: 100},
      {t: 5000, bytes: 200},
    ]
    const [fast, slow] = paceBySegments(samples, 2)
    expect(fast).toBeCloseTo(100)
    expect(slow).toBeCloseTo(25)
    // Shares that straddle a reading: 50 bytes take 0.5 s, then 0.5 s + 2 s, then 2 s.
    expect(paceBySegments(samples, 4).map((r) => Math.round(r))).toEqual([100, 100, 25, 25])
    // The middle third straddles the slowdown: 33.3 bytes at 100 B/s, then 33.3 at 25 B/s.
    expect(paceBySegments(samples, 3).map((r) => Math.round(r))).toEqual([100, 40, 25])
  })

  it('measures from the first reading, not from zero bytes', () => {
    expect(paceBySegments([{t: 2000, bytes: 1000}, {t: 4000, bytes: 1200}], 1)).toEqual([100])
  })

  it('is empty without two readings or any bytes', () => {
    expect(paceBySegments([], 5)).toEqual([])
    expect(paceBySegments([{t: 0, bytes: 5}], 5)).toEqual([])
    expect(paceBySegments([{t: 0, bytes: 5}, {t: 10, bytes: 5}], 5)).toEqual([])
  })
})
