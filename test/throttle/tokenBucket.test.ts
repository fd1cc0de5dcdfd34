import fc from 'fast-check'
import {describe, expect, it} from 'vitest'
import {BURST_SECONDS, reserveAll, TokenBucket} from '../../src/throttle/tokenBucket.js'

/**
 * copyThrough simulates a throttled copy on a fake clock for `seconds`: frames of
 * `frameSeconds` of the rate, each sent once the bucket allows, the sender itself able to
 * go `speed` × the rate and pausing `stallMs` every `stallEveryMs` (a commit, a busy CPU).
 * Returns when each byte was released: [time ms, bytes] per frame.
 */
function copyThrough(rate: number, opts: {seconds: number; frameSeconds: number; speed: number; stallMs: number; stallEveryMs: number}): [number, number][] {
  let t = 0
  const b = new TokenBucket(rate, () => t)
  const frame = rate * opts.frameSeconds
  const sent: [number, number][] = []
  let nextStall = opts.stallEveryMs
  while (t < opts.seconds * 1000) {
    t += b.take(frame)
    sent.push([t, frame])
    t += (frame / (rate * opts.speed)) * 1000 // the sender's own time per frame
    if (t >= nextStall) {
      t += opts.stallMs
      nextStall += opts.stallEveryMs
    }
  }
  return sent
}

/** windowRates returns the rate released in every 10 s window starting at each whole second in [0, end - 10 s]. */
function windowRates(sent: [number, number][], endMs: number): number[] {
  const out: number[] = []
  for (let from = 0; from + 10_000 <= endMs; from += 1000) {
    const bytes = sent.filter(([at]) => at >= from && at < from + 10_000).reduce((a, [, n]) => a + n, 0)
    out.push(bytes / 10)
  }
  return out
}

describe('TokenBucket', () => {
  it('starts empty, saves up at most BURST_SECONDS of its rate, and makes callers wait at the rate', () => {
    let t = 0
    const b = new TokenBucket(1000, () => t)
    expect(b.take(100)).toBe(100) // no head start
    t = 100
    expect(b.take(100)).toBe(100) // the first 100 ms paid the first request only
    t = 10_000 // a long pause saves up only the burst
    expect(b.take(1000 * BURST_SECONDS)).toBe(0)
    expect(b.take(500)).toBe(500)
  })

  it('holds a copy to ±5 % of the rate in every 10 s window, from the first one, through pauses shorter than the burst', () => {
    const rate = 20 * 1024 * 1024
    // A sender that could go 1.6× the rate (the bench's 20 MiB/s copy on a 31 MiB/s machine),
    // pausing 200 ms every 2 s. A bucket that starts full or saves a whole second lets the
    // first windows run ~+5-10 % over; this fails on that.
    const sent = copyThrough(rate, {seconds: 60, frameSeconds: 0.1, speed: 1.6, stallMs: 200, stallEveryMs: 2000})
    const rates = windowRates(sent, 60_000)
    expect(rates.length).toBe(51)
    for (const r of rates) {
      expect(r).toBeLessThanOrEqual(rate * 1.05)
      expect(r).toBeGreaterThanOrEqual(rate * 0.95)
    }
  })

  it('never lets a 10 s window run more than the burst and one frame over the rate, whatever the pauses', () => {
    fc.assert(
      fc.property(fc.integer({min: 0, max: 3000}), fc.integer({min: 500, max: 5000}), fc.double({min: 1.01, max: 20, noNaN: true}), (stallMs, stallEveryMs, speed) => {
        const rate = 1_000_000
        const sent = copyThrough(rate, {seconds: 40, frameSeconds: 0.1, speed, stallMs, stallEveryMs})
        for (const r of windowRates(sent, 40_000)) expect(r).toBeLessThanOrEqual(rate * (1 + (BURST_SECONDS + 0.1) / 10) + 1e-6)
      }),
      {numRuns: 50},
    )
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
        expect(sent).toBeLessThanOrEqual(rate * BURST_SECONDS + (sentAt / 1000) * rate + 1e-6 + Math.max(...steps.map((s) => s[0])))
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

  it('pays a debt reserved at the old rate at the new one after setRate', () => {
    let t = 0
    const b = new TokenBucket(1000, () => t)
    expect(b.take(1000)).toBe(1000) // 1 s of debt at 1000/s
    b.setRate(10_000)
    expect(b.take(0)).toBe(100) // the same debt now takes 100 ms
  })

  it('keeps the time a debt had left when the rate is cut, instead of paying its bytes again at the slower rate', () => {
    let t = 0
    const b = new TokenBucket(1_000_000, () => t)
    expect(b.take(100_000)).toBe(100) // 100 ms of debt at 1 MB/s
    t = 40
    b.setRate(1000)
    expect(b.take(0)).toBe(60) // what was left of it, not 60,000 bytes at 1000/s (60 s)
    expect(b.take(1000)).toBe(1060) // the next request at the new rate, after it
  })

  it('makes a copy wait for the tightest of several limits', () => {
    let t = 0
    const global = new TokenBucket(10_000, () => t)
    const node = new TokenBucket(1000, () => t)
    expect(reserveAll([global, node], 2000)).toBe(2000) // empty buckets: 0.2 s at 10,000/s, 2 s at 1000/s
  })
})
