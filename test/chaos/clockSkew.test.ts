import {describe, expect, it} from 'vitest'
import {type MemberHealth, skewNotInEffect} from './clockSkew.js'

/** reading is a /healthz answer asked at t=10 000 and answered 20 ms later, from a member whose clock is `wallOffsetMs` off ours. */
function reading(wallOffsetMs: number, health: Omit<MemberHealth, 'clock'>) {
  return {sentAt: 10_000, receivedAt: 10_020, health: {clock: 10_010 + wallOffsetMs, ...health}}
}

describe('skewNotInEffect', () => {
  it('Given a router restarted +300 ms whose monitor measured it and says in bounds, When judged, Then the skew is in effect', () => {
    expect(skewNotInEffect(reading(310, {clockOk: true, clockOffsetMs: 296}), {offsetMs: 300, inBounds: true})).toBeUndefined()
  })

  it('Given a router restarted +300 ms whose monitor has not measured yet (the fixed 2.5 s wait failed here), When judged, Then it is not in effect yet, saying so', () => {
    expect(skewNotInEffect(reading(302, {clockOk: true, clockOffsetMs: null}), {offsetMs: 300, inBounds: true})).toMatch(/has not measured its offset yet/)
  })

  it('Given a member whose wall clock is not skewed (libfaketime not applied), When judged, Then it is not in effect, even if its monitor says what was expected', () => {
    expect(skewNotInEffect(reading(3, {clockOk: false, clockOffsetMs: -2000}), {offsetMs: -2000, inBounds: false})).toMatch(/wall clock is 3 ms off ours, not -2000 ms.*not applied/)
  })

  it('Given a node 2 s ahead whose monitor measured it but has not yet closed its write gate, When judged, Then it is not in effect until it says out of bounds', () => {
    const want = {offsetMs: 2000, inBounds: false}
    expect(skewNotInEffect(reading(2004, {clockOk: true, clockOffsetMs: 1990}), want)).toMatch(/says in bounds, want out of bounds/)
    expect(skewNotInEffect(reading(2004, {clockOk: false, clockOffsetMs: 1990}), want)).toBeUndefined()
  })

  it('Given a node -150 ms whose monitor measures the wrong sign, When judged, Then it is not in effect, naming the measurement', () => {
    expect(skewNotInEffect(reading(-148, {clockOk: true, clockOffsetMs: 140}), {offsetMs: -150, inBounds: true})).toMatch(/measures 140 ms, not -150 ms/)
  })

  it('Given a slow round trip, When the reported clock is off by less than half of it beyond the tolerance, Then the wall clock still counts as skewed', () => {
    // 400 ms round trip: the clock was read somewhere inside it, so ±200 ms more is allowed.
    const slow = {sentAt: 10_000, receivedAt: 10_400, health: {clock: 10_200 + 300 + 300, clockOk: true, clockOffsetMs: 300}}
    expect(skewNotInEffect(slow, {offsetMs: 300, inBounds: true})).toBeUndefined()
  })

  it('Given an answer without a clock, When judged, Then it says so', () => {
    expect(skewNotInEffect({sentAt: 0, receivedAt: 1, health: {serving: true}}, {offsetMs: 300, inBounds: true})).toMatch(/no clock/)
  })
})
