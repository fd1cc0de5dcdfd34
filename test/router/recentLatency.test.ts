import {describe, expect, it} from 'vitest'
import {seededRandom} from '../../bench/seededRandom.js'
import {RecentLatency} from '../../src/router/recentLatency.js'

/** p99Of is the reference: the 99th percentile (nearest rank) of `xs`. */
function p99Of(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.ceil(s.length * 0.99) - 1] ?? NaN
}

describe('RecentLatency', () => {
  it('reports the newest slice alone when it holds enough samples: a breach that ended a second ago is gone', () => {
    const r = new RecentLatency({sliceMs: 1000, minSamples: 100, maxSlices: 5, capacity: 4096, steadySlices: 1})
    for (let i = 0; i < 300; i++) r.record(i % 10 === 0 ? 500 : 10) // a breach: 10 % of requests at 500 ms
    expect(r.rotate()).toEqual({p99Ms: 500, samples: 300, windowMs: 1000})
    for (let i = 0; i < 300; i++) r.record(10)
    expect(r.rotate()).toEqual({p99Ms: 10, samples: 300, windowMs: 1000})
  })

  it('stretches over older slices until it has minSamples, never past maxSlices', () => {
    const r = new RecentLatency({sliceMs: 1000, minSamples: 100, maxSlices: 3, capacity: 4096, steadySlices: 1})
    const all: number[] = []
    const random = seededRandom(3)
    for (let slice = 0; slice < 6; slice++) {
      const xs = Array.from({length: 30}, () => Math.round(random() * 1000) / 10)
      for (const x of xs) r.record(x)
      all.push(...xs)
      const report = r.rotate()
      const used = Math.min(slice + 1, 3) // 30 a slice never reaches 100: as many slices as allowed
      expect(report).toEqual({p99Ms: p99Of(all.slice(-30 * used)), samples: 30 * used, windowMs: 1000 * used})
    }
  })

  it('takes exactly the newest slices that reach minSamples', () => {
    const r = new RecentLatency({sliceMs: 500, minSamples: 50, maxSlices: 5, capacity: 4096, steadySlices: 1})
    for (let i = 0; i < 40; i++) r.record(100) // oldest: 40 at 100 ms
    r.rotate()
    for (let i = 0; i < 40; i++) r.record(1)
    r.rotate()
    for (let i = 0; i < 20; i++) r.record(2)
    // newest 20 + previous 40 = 60 >= 50: the 100 ms slice is left out
    expect(r.rotate()).toEqual({p99Ms: 2, samples: 60, windowMs: 1000})
  })

  it('reports null when no request was answered in its slices, and forgets slices older than maxSlices', () => {
    const r = new RecentLatency({sliceMs: 1000, minSamples: 10, maxSlices: 2, capacity: 4096, steadySlices: 1})
    expect(r.rotate()).toBeNull()
    r.record(7)
    expect(r.rotate()).toEqual({p99Ms: 7, samples: 1, windowMs: 1000}) // the empty slice before it is no part of the window
    expect(r.rotate()).toEqual({p99Ms: 7, samples: 1, windowMs: 2000})
    expect(r.rotate()).toBeNull()
  })

  it('keeps the newest `capacity` latencies of a slice', () => {
    const r = new RecentLatency({sliceMs: 1000, minSamples: 1, maxSlices: 1, capacity: 100, steadySlices: 1})
    for (let i = 0; i < 100; i++) r.record(900)
    for (let i = 0; i < 100; i++) r.record(5)
    expect(r.rotate()).toEqual({p99Ms: 5, samples: 100, windowMs: 1000})
  })

  it('reports the steady window over the last steadySlices slices, whatever minSamples says, and not past them', () => {
    const r = new RecentLatency({sliceMs: 1000, minSamples: 10, maxSlices: 2, capacity: 4096, steadySlices: 4})
    const all: number[] = []
    const random = seededRandom(7)
    for (let slice = 0; slice < 7; slice++) {
      const xs = Array.from({length: 50 + slice}, () => Math.round(random() * 1000) / 10)
      for (const x of xs) r.record(x)
      all.push(...xs)
      expect(r.rotate()?.windowMs).toBe(1000) // the short window: one slice holds minSamples
      const used = Math.min(slice + 1, 4)
      let n = 0
      for (let i = slice; i > slice - used; i--) n += 50 + i
      expect(r.steady()).toEqual({p99Ms: p99Of(all.slice(-n)), samples: n, windowMs: 1000 * used})
    }
  })

  it('keeps the short window at maxSlices although it keeps more slices for the steady one', () => {
    const r = new RecentLatency({sliceMs: 1000, minSamples: 1000, maxSlices: 2, capacity: 4096, steadySlices: 5})
    for (let slice = 0; slice < 5; slice++) {
      for (let i = 0; i < 10; i++) r.record(slice === 0 ? 900 : 5) // the oldest slice was slow
      r.rotate()
    }
    expect(r.steady()).toEqual({p99Ms: 900, samples: 50, windowMs: 5000}) // the slow slice is in the steady window...
    for (let i = 0; i < 10; i++) r.record(5)
    expect(r.rotate()).toEqual({p99Ms: 5, samples: 20, windowMs: 2000}) // never reaches back to the slow slice
    expect(r.steady()).toEqual({p99Ms: 5, samples: 50, windowMs: 5000}) // the slow slice has left the steady window too
    const fresh = new RecentLatency({sliceMs: 1000, minSamples: 1, maxSlices: 1, capacity: 4096, steadySlices: 3})
    expect(fresh.steady()).toBeNull() // nothing closed yet
  })
  it('reaches the steady window back only to its oldest slice with a latency: a burst after an idle spell does not pass for a steady 10 s', () => {
    const r = new RecentLatency({sliceMs: 1000, minSamples: 200, maxSlices: 5, capacity: 4096, steadySlices: 10})
    for (let slice = 0; slice < 8; slice++) r.rotate() // 8 s without a request
    for (let slice = 0; slice < 2; slice++) {
      for (let i = 0; i < 150; i++) r.record(i < 15 ? 80 : 4) // a 2 s burst, its first requests slow
      r.rotate()
    }
    expect(r.steady()).toEqual({p99Ms: 80, samples: 300, windowMs: 2000})
    expect(r.rotate()).toEqual({p99Ms: 80, samples: 300, windowMs: 3000}) // a quiet second after the burst still counts: the window reaches from now back to the burst
    expect(r.steady()).toEqual({p99Ms: 80, samples: 300, windowMs: 3000})
    // The short window (5 slices at most) claims no more than the steady one: it too stops at its oldest slice with a latency.
    const light = new RecentLatency({sliceMs: 1000, minSamples: 200, maxSlices: 5, capacity: 4096, steadySlices: 10})
    for (let slice = 0; slice < 6; slice++) light.rotate()
    for (let i = 0; i < 100; i++) light.record(3)
    expect(light.rotate()).toEqual({p99Ms: 3, samples: 100, windowMs: 1000})
    expect(light.steady()).toEqual({p99Ms: 3, samples: 100, windowMs: 1000})
  })
})
