import {describe, expect, it} from 'vitest'
import {cpuBudgetText} from '../../bench/cpuBudget.js'

describe('cpuBudgetText', () => {
  it('adds both ends of each copy, compares them and turns each cost into the rate the cores allow', () => {
    // Source 400 MiB per CPU-s (2.5 ms/MiB) + destination 100 (10 ms/MiB) = 12.5 ms/MiB; bare 1.5 + 1 = 2.5 ms/MiB.
    expect(cpuBudgetText({srcMiBPerCpuS: 400, dstMiBPerCpuS: 100}, {sender: 1.5, receiver: 1}, 2)).toBe(
      '12.50 vs 2.50 CPU ms per MiB (5.0x); 2 CPUs allow at most 160 MiB/s at the copy\'s cost, 800 MiB/s at the bare copy\'s',
    )
  })

  it('says NaN rather than a figure when the copy had no CPU sample (a copy too short to sample)', () => {
    expect(cpuBudgetText({srcMiBPerCpuS: NaN, dstMiBPerCpuS: 100}, {sender: 1, receiver: 1}, 2)).toMatch(/^NaN vs 2\.00/)
  })
})
