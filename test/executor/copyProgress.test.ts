import {describe, expect, it} from 'vitest'
import {CopyMeter, MAX_RATE_WINDOW_MS, MIN_RATE_WINDOW_MS, RATE_WINDOW_MS, STALL_RATE, STALL_WINDOW_MS, stallThreshold, throttleShare} from '../../src/executor/copyProgress.js'

describe('CopyMeter', () => {
  it('measures the rate over the window', () => {
    const m = new CopyMeter(0)
    m.record(500, 1000)
    m.record(1000, 1000)
    expect(m.rate(1000)).toBe(2000)
  })

  it('shows the new rate a window after the rate changes, not a 30 s average', () => {
    // 20 s at 100 B/s, then 10 s at 1000 B/s: the shown rate must be the new one.
    const m = new CopyMeter(0)
    let t = 0
    for (; t < 20_000; ) m.record((t += 100), 10)
    for (; t < 30_000; ) m.record((t += 100), 100)
    expect(m.rate(t)).toBe(1000)
    // and the stall verdict still looks at its whole window (no stall at 1000 B/s either way)
    expect(m.stalled(t, 50)).toBe(false)
    expect(RATE_WINDOW_MS).toBeLessThan(10_000)
  })

  it('takes its rate over the window it is given (--rate-window): a 2 s meter shows a step 2 s after it, a default one still a mix', () => {
    const short = new CopyMeter(0, 2000)
    const long = new CopyMeter(0)
    let t = 0
    for (; t < 10_000; t += 100) for (const m of [short, long]) m.record(t + 100, 10)
    for (; t < 12_000; t += 100) for (const m of [short, long]) m.record(t + 100, 100)
    expect(short.rate(t)).toBe(1000)
    // 2 s at 1000 B/s and 3 s at 100 B/s over the default 5 s.
    expect(long.rate(t)).toBe((2 * 1000 + 3 * 100) / 5)
    // The stall window does not follow the rate window.
    const quiet = new CopyMeter(0, 2000)
    for (let u = 1000; u <= STALL_WINDOW_MS; u += 1000) quiet.record(u, u === STALL_WINDOW_MS ? 10 * 1024 * 1024 : 0)
    expect(quiet.rate(STALL_WINDOW_MS)).toBe((10 * 1024 * 1024) / 2)
    expect(quiet.stalled(STALL_WINDOW_MS)).toBe(false)
  })

  it('refuses a rate window outside 1 s .. the stall window', () => {
    expect(() => new CopyMeter(0, MIN_RATE_WINDOW_MS - 1)).toThrow(RangeError)
    expect(() => new CopyMeter(0, MAX_RATE_WINDOW_MS + 1)).toThrow(RangeError)
    expect(() => new CopyMeter(0, Number.NaN)).toThrow(RangeError)
    expect(new CopyMeter(0, MIN_RATE_WINDOW_MS).rate(0)).toBe(0)
    expect(MAX_RATE_WINDOW_MS).toBe(STALL_WINDOW_MS)
  })

  it('flags a copy stalled only after a full window under 0.1 MiB/s', () => {
    const m = new CopyMeter(0)
    for (let t = 1000; t <= STALL_WINDOW_MS; t += 1000) m.record(t, 1024)
    expect(m.stalled(STALL_WINDOW_MS - 1)).toBe(false)
    expect(m.stalled(STALL_WINDOW_MS)).toBe(true)
    m.record(STALL_WINDOW_MS + 1000, 10 * 1024 * 1024)
    expect(m.stalled(STALL_WINDOW_MS + 1000)).toBe(false)
  })
})

describe('stall threshold relative to the throttle share', () => {
  it('does not call a move copying at its 64 KiB/s throttle stalled (the fixed 0.1 MiB/s would)', () => {
    const m = new CopyMeter(0)
    for (let t = 1000; t <= STALL_WINDOW_MS; t += 1000) m.record(t, 64 * 1024)
    const share = throttleShare({global: 64 * 1024, running: 1, source: null, destination: null})
    expect(m.stalled(STALL_WINDOW_MS)).toBe(true)
    expect(m.stalled(STALL_WINDOW_MS, stallThreshold(share))).toBe(false)
  })

  it('still flags a throttled move that copies far under its share', () => {
    const m = new CopyMeter(0)
    for (let t = 1000; t <= STALL_WINDOW_MS; t += 1000) m.record(t, 1024)
    expect(m.stalled(STALL_WINDOW_MS, stallThreshold(64 * 1024))).toBe(true)
  })

  it('splits the global rate among running moves and caps it by the node rates', () => {
    expect(throttleShare({global: 400, running: 4, source: null, destination: null})).toBe(100)
    expect(throttleShare({global: 400, running: 0, source: null, destination: null})).toBe(400)
    expect(throttleShare({global: 400, running: 1, source: 50, destination: 70})).toBe(50)
    expect(throttleShare({global: null, running: 3, source: null, destination: null})).toBeNull()
  })

  it('keeps the fixed 0.1 MiB/s threshold for unthrottled or fast-throttled moves', () => {
    expect(stallThreshold(null)).toBe(STALL_RATE)
    expect(stallThreshold(100 * 1024 * 1024)).toBe(STALL_RATE)
    expect(stallThreshold(64 * 1024)).toBe(16 * 1024)
  })
})
