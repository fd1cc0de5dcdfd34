import {describe, expect, it} from 'vitest'
import {CHAOS_TEST_TIMEOUT_MS, Deadline, REPAIR_RESERVE_MS, SCENARIO_BUDGET_MS, TAIL_RESERVE_MS} from './deadline.js'

/** clock is a hand-driven time source. */
function clock(start = 1_000_000): {now: () => number; advance: (ms: number) => void} {
  let t = start
  return {now: () => t, advance: (ms) => (t += ms)}
}

describe('Deadline', () => {
  it('Given waits whose caps add up past the budget, When each takes its budget in turn, Then together they end by the deadline', () => {
    // The aborted-move scenario's caps: copy 60 s, abort 90 s, purge 30 s, end 60 s, drain 150 s, cordon 2 x 30 s, move back 150 s.
    const caps = [60_000, 90_000, 30_000, 60_000, 150_000, 30_000, 30_000, 150_000]
    const c = clock()
    const start = c.now()
    const deadline = Deadline.in(SCENARIO_BUDGET_MS, c.now).before(TAIL_RESERVE_MS)
    for (const cap of caps) c.advance(deadline.budget(cap)) // the worst case: every wait runs out
    expect(caps.reduce((a, b) => a + b, 0)).toBeGreaterThan(CHAOS_TEST_TIMEOUT_MS)
    expect(c.now() - start).toBe(SCENARIO_BUDGET_MS - TAIL_RESERVE_MS)
    expect(c.now() - start).toBeLessThan(CHAOS_TEST_TIMEOUT_MS)
  })

  it('Given time left, When a wait asks for less, Then it gets its own cap and the message names only it', () => {
    const c = clock()
    const deadline = Deadline.in(300_000, c.now)
    c.advance(100_000)
    expect(deadline.leftMs()).toBe(200_000)
    expect(deadline.budget(60_000)).toBe(60_000)
    expect(deadline.within(60_000, 60_000)).toBe('60 s')
  })

  it('Given less time left than a cap, When a wait asks, Then it gets what is left and the message says the deadline cut it', () => {
    const c = clock()
    const deadline = Deadline.in(300_000, c.now)
    c.advance(288_000)
    expect(deadline.budget(60_000)).toBe(12_000)
    expect(deadline.within(12_000, 60_000)).toBe("12 s (all that was left of the scenario's 300 s)")
  })

  it('Given a passed deadline, When asked, Then nothing is left and every budget is 0', () => {
    const c = clock()
    const deadline = Deadline.in(10_000, c.now)
    c.advance(15_000)
    expect(deadline.leftMs()).toBe(0)
    expect(deadline.budget(60_000)).toBe(0)
  })

  it('Given a deadline, When a reserve is kept after a part, Then the part ends that much earlier and the harness tail fits inside the test timeout', () => {
    const c = clock()
    const whole = Deadline.in(SCENARIO_BUDGET_MS, c.now)
    expect(whole.before(TAIL_RESERVE_MS).leftMs()).toBe(SCENARIO_BUDGET_MS - TAIL_RESERVE_MS)
    expect(whole.before(TAIL_RESERVE_MS).totalMs).toBe(SCENARIO_BUDGET_MS)
    expect(REPAIR_RESERVE_MS).toBeLessThan(TAIL_RESERVE_MS)
    expect(SCENARIO_BUDGET_MS).toBeLessThan(CHAOS_TEST_TIMEOUT_MS)
  })
})
