import {describe, expect, it} from 'vitest'
import {RetryBudget} from '../../src/router/retryBudget.js'

describe('RetryBudget', () => {
  it('allows at most `attempts` retries', () => {
    const b = new RetryBudget(2, 1000, () => 0)
    expect([b.take(), b.take(), b.take()]).toEqual([true, true, false])
    expect(b.retries).toBe(2)
  })

  it('allows none past the deadline', () => {
    let now = 0
    const b = new RetryBudget(5, 100, () => now)
    expect(b.remainingMs()).toBe(100)
    now = 100
    expect(b.take()).toBe(false)
    expect(b.remainingMs()).toBe(0)
  })
})
