import {describe, expect, it} from 'vitest'
import {type LatencyReading} from '../../src/executor/adaptiveThrottle.js'
import {BASELINE_DEFAULTS, baselineTarget, measureBaseline, parseLatencyTarget} from '../../src/executor/latencyBaseline.js'
import {parseDuration} from '../../src/model/units.js'

const reading = (p99Ms: number, at: number, samples = 400): LatencyReading => ({p99Ms, samples, windowMs: 1000, at})

describe('parseLatencyTarget', () => {
  it('reads a factor as a factor and anything else as a duration', () => {
    expect(parseLatencyTarget('2x', parseDuration)).toEqual({factor: 2})
    expect(parseLatencyTarget(' 1.5X ', parseDuration)).toEqual({factor: 1.5})
    expect(parseLatencyTarget('25ms', parseDuration)).toEqual({ms: 25})
    expect(parseLatencyTarget('2', parseDuration)).toEqual({ms: 2000})
  })

  it('refuses a factor of 1x or less (no room for the copy at all), or past 100x, naming the input', () => {
    for (const bad of ['1x', '0.5x', '0x', '101x']) expect(() => parseLatencyTarget(bad, parseDuration), bad).toThrow(new RegExp(`"${bad}" is not a factor over 1x`))
    expect(() => parseLatencyTarget('fastx', parseDuration)).toThrow(/is not a duration/)
  })
})

describe('baselineTarget', () => {
  const opts = {floorMs: 5, fallbackMs: 25}
  it('is the factor times the median p99, so one slow second does not double the budget', () => {
    expect(baselineTarget([reading(10, 1), reading(90, 2), reading(12, 3)], 2, opts)).toEqual({targetMs: 24, baselineMs: 12, readings: 3})
    expect(baselineTarget([reading(10, 1), reading(14, 2)], 2, opts)).toEqual({targetMs: 24, baselineMs: 12, readings: 2})
  })

  it('never sets a target under the floor (a sub-millisecond p99 is noise, not a budget)', () => {
    expect(baselineTarget([reading(0.4, 1)], 2, opts).targetMs).toBe(5)
  })

  it('falls back without any reading (no client traffic to measure)', () => {
    expect(baselineTarget([], 2, opts)).toEqual({targetMs: 25, baselineMs: null, readings: 0})
  })
})

describe('measureBaseline', () => {
  /** fakeTime: sleep advances the clock at once; `read` sees the time. */
  function fakeTime(): {now: () => number; sleep: (ms: number) => Promise<void>; t: () => number} {
    let now = 0
    return {now: () => now, sleep: async (ms) => void (now += ms), t: () => now}
  }

  it('takes fresh readings of enough latencies, one per window, and stops once it has enough', async () => {
    const time = fakeTime()
    let reads = 0
    // A new window each second; the first rests on too few latencies.
    const read = async () => {
      reads++
      const at = Math.floor(time.t() / 1000) * 1000
      if (at === 0) return reading(50, at, 3)
      return reading(at === 2000 ? 30 : 10, at)
    }
    const b = await measureBaseline(read, 2, time, new AbortController().signal)
    expect(b).toEqual({targetMs: 20, baselineMs: 10, readings: 3})
    expect(reads).toBe(4)
    expect(time.t()).toBe(3000)
  })

  it('gives up after maxMs with what it has, a failed read counting as none', async () => {
    const time = fakeTime()
    let n = 0
    const read = async () => {
      n++
      if (n % 2 === 0) throw new Error('etcd unavailable')
      return reading(8, time.t())
    }
    const b = await measureBaseline(read, 2, time, new AbortController().signal, {...BASELINE_DEFAULTS, readings: 10})
    expect(time.t()).toBeLessThanOrEqual(BASELINE_DEFAULTS.maxMs)
    expect(b.readings).toBeGreaterThan(0)
    expect(b.readings).toBeLessThan(10)
    expect(b.targetMs).toBe(16)
  })

  it('falls back when nothing is measured, and stops at once when aborted', async () => {
    const time = fakeTime()
    expect(await measureBaseline(async () => null, 2, time, new AbortController().signal)).toEqual({targetMs: 25, baselineMs: null, readings: 0})
    expect(time.t()).toBeLessThanOrEqual(BASELINE_DEFAULTS.maxMs)
    const aborted = new AbortController()
    aborted.abort()
    const t0 = time.t()
    await measureBaseline(async () => null, 2, time, aborted.signal)
    expect(time.t()).toBe(t0)
  })

  it('takes a steady window of enough time and latencies at once, where the one-second readings would swing', async () => {
    const time = fakeTime()
    let reads = 0
    // One-second readings of the same clients swing 6..27 ms; the 10 s window over all of them says 12.
    const read = async () => {
      reads++
      return {...reading([27, 6, 25][reads - 1] ?? 9, time.t()), steady: {p99Ms: 12, samples: 2500, windowMs: 10_000}}
    }
    expect(await measureBaseline(read, 1.5, time, new AbortController().signal)).toEqual({targetMs: 18, baselineMs: 12, readings: 1, steady: {windowMs: 10_000, samples: 2500}})
    expect(reads).toBe(1)
    expect(time.t()).toBe(0) // no waiting for more readings
  })

  it('reads one-second windows as before when the steady window is too short or too thin (a young router, a light load, redis)', async () => {
    for (const steady of [{p99Ms: 3, samples: 5000, windowMs: 4000}, {p99Ms: 3, samples: 199, windowMs: 10_000}, undefined]) {
      const time = fakeTime()
      const read = async () => ({...reading(10, time.t()), ...(steady ? {steady} : {})})
      expect(await measureBaseline(read, 2, time, new AbortController().signal)).toEqual({targetMs: 20, baselineMs: 10, readings: 3})
    }
  })

  it('takes the steady window once it has grown long enough while the readings were being taken, with the floor', async () => {
    const time = fakeTime()
    // A router up for 3 s when the executor starts: its window reaches back 3 s, then 4, then 5.
    const read = async () => ({...reading(10, time.t()), steady: {p99Ms: 1, samples: 900, windowMs: 3000 + time.t()}})
    expect(await measureBaseline(read, 2, time, new AbortController().signal)).toEqual({targetMs: 5, baselineMs: 1, readings: 1, steady: {windowMs: 5000, samples: 900}})
    expect(time.t()).toBe(2000)
  })
})
