import {describe, expect, it} from 'vitest'
import {seededRandom} from '../../bench/seededRandom.js'
import {nearestRankInPlace} from '../../src/router/nearestRank.js'

/** sortedRank is the reference: sort, then take the ceil(q·n)-th smallest. */
function sortedRank(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(s.length * q) - 1))] ?? NaN
}

describe('nearestRankInPlace', () => {
  it('agrees with sorting on random inputs of every shape: sizes 1..300, many ties, sorted and reversed runs', () => {
    const random = seededRandom(11)
    for (let round = 0; round < 600; round++) {
      const n = 1 + Math.floor(random() * 300)
      const shape = round % 4
      const xs = Array.from({length: n}, (_, i) =>
        shape === 0 ? random() * 100 : shape === 1 ? Math.floor(random() * 4) : shape === 2 ? i : n - i,
      )
      for (const q of [0, 0.01, 0.5, 0.99, 1]) expect(nearestRankInPlace(Float64Array.from(xs), q)).toBe(sortedRank(xs, q))
    }
  })

  it('is NaN for no values and the value itself for one', () => {
    expect(nearestRankInPlace(new Float64Array(0), 0.99)).toBeNaN()
    expect(nearestRankInPlace(Float64Array.of(7), 0.99)).toBe(7)
  })

  it('finds a p99 over 40,960 latencies, the most a router keeps for its steady window', () => {
    const random = seededRandom(5)
    const xs = Array.from({length: 40_960}, () => (random() < 0.02 ? 200 + random() * 100 : random() * 10))
    expect(nearestRankInPlace(Float64Array.from(xs), 0.99)).toBe(sortedRank(xs, 0.99))
  })
  it('stays linear on latencies that rose and fell over the window (an organ pipe), which a middle pivot took ~200 reads a value over', () => {
    const n = 40_960
    const xs = Array.from({length: n}, (_, i) => (i < n / 2 ? i : n - i))
    let reads = 0
    const counted = new Proxy(Float64Array.from(xs), {
      get(target, key) {
        if (typeof key === 'string' && /^\d+$/.test(key)) reads++
        const v: unknown = Reflect.get(target, key)
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v
      },
      set: (target, key, value) => Reflect.set(target, key, value),
    })
    expect(nearestRankInPlace(counted, 0.99)).toBe(sortedRank(xs, 0.99))
    expect(reads / n).toBeLessThan(10) // a random input takes about 3
  })
})
