import {describe, expect, it} from 'vitest'
import {ClockOffsetTracker, versionTooFarAhead} from '../../src/clock/clockOffsetTracker.js'

const tracker = () => new ClockOffsetTracker({maxOffsetMs: 500, staleAfterMs: 5000})

describe('ClockOffsetTracker', () => {
  it('given no samples, then the clock is ok and its offset unknown', () => {
    expect(tracker().verdict(0)).toMatchObject({ok: true, offsetMs: null, peers: 0})
  })

  it('given every peer 2 s behind us, then we are out of bounds by +2000 ms', () => {
    const t = tracker()
    for (const p of ['a', 'b', 'c', 'd']) t.record({peer: p, offsetMs: -2000, rttMs: 2, at: 100})
    const v = t.verdict(100)
    expect(v).toMatchObject({ok: false, offsetMs: 2000, beyond: 4, peers: 4})
    expect(v.reason).toContain('+2000 ms')
  })

  it('given one wrong peer among four, then we stay in bounds (one bad clock cannot stop a healthy member)', () => {
    const t = tracker()
    t.record({peer: 'bad', offsetMs: 2000, rttMs: 2, at: 0})
    for (const p of ['a', 'b', 'c']) t.record({peer: p, offsetMs: 10, rttMs: 2, at: 0})
    expect(t.verdict(0)).toMatchObject({ok: true, beyond: 1})
  })

  it('given half the peers beyond, then we stay in bounds (half is not a majority: two healthy members 800 ms apart, each within the bound of the third, keep writing while a fourth is down)', () => {
    const t = tracker()
    t.record({peer: 'other-node', offsetMs: -800, rttMs: 2, at: 0})
    t.record({peer: 'router', offsetMs: -400, rttMs: 2, at: 0})
    expect(t.verdict(0)).toMatchObject({ok: true, beyond: 1, peers: 2})
  })

  it('given more than half the peers beyond, then we are out of bounds', () => {
    const t = tracker()
    for (const p of ['a', 'b']) t.record({peer: p, offsetMs: 900, rttMs: 2, at: 0})
    t.record({peer: 'c', offsetMs: 0, rttMs: 2, at: 0})
    expect(t.verdict(0)).toMatchObject({ok: false, beyond: 2, peers: 3})
  })

  it('given one peer only and it is beyond, then we are out of bounds (it decides: two members that disagree both stop)', () => {
    const t = tracker()
    t.record({peer: 'a', offsetMs: 900, rttMs: 2, at: 0})
    expect(t.verdict(0)).toMatchObject({ok: false, beyond: 1, peers: 1})
  })

  it('grants the round trip: an offset within the bound once rtt/2 is allowed for is not beyond', () => {
    const t = tracker()
    t.record({peer: 'a', offsetMs: 650, rttMs: 400, at: 0})
    expect(t.verdict(0)).toMatchObject({ok: true, beyond: 0})
    t.record({peer: 'a', offsetMs: 650, rttMs: 200, at: 0})
    expect(t.verdict(0)).toMatchObject({ok: false, beyond: 1})
  })

  it('forgets stale samples and peers that left', () => {
    const t = tracker()
    t.record({peer: 'a', offsetMs: 5000, rttMs: 1, at: 0})
    expect(t.verdict(4000).ok).toBe(false)
    expect(t.verdict(6000)).toMatchObject({ok: true, peers: 0})
    t.record({peer: 'b', offsetMs: 5000, rttMs: 1, at: 6000})
    t.retain(new Set(['a']))
    expect(t.verdict(6000).peers).toBe(0)
  })
})

describe('versionTooFarAhead', () => {
  it('refuses a version more than three times the bound ahead of the receiver and accepts anything up to it, or behind', () => {
    expect(versionTooFarAhead(2500, 1000, 500)).toBeUndefined()
    expect(versionTooFarAhead(2501, 1000, 500)).toContain('1501 ms ahead')
    expect(versionTooFarAhead(0, 1000, 500)).toBeUndefined()
  })
})
