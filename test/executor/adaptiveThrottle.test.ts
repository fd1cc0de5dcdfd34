import {describe, expect, it} from 'vitest'
import {AimdThrottle, defaultAimd} from '../../src/executor/adaptiveThrottle.js'

const MiB = 1024 * 1024

describe('AimdThrottle', () => {
  it('raises the rate additively while clients stay under the p99 target', () => {
    const t = new AimdThrottle(defaultAimd(25))
    expect(t.current()).toBe(8 * MiB)
    expect(t.observe(10)).toBe(12 * MiB)
    expect(t.observe(24.9)).toBe(16 * MiB)
  })

  it('halves it when the p99 goes over target, never below the floor', () => {
    const t = new AimdThrottle(defaultAimd(25))
    expect(t.observe(40)).toBe(4 * MiB)
    for (let i = 0; i < 20; i++) t.observe(100)
    expect(t.current()).toBe(256 * 1024)
  })

  it('holds the rate without a reading and never exceeds the ceiling', () => {
    const t = new AimdThrottle({...defaultAimd(25), max: 10 * MiB})
    expect(t.observe(null)).toBe(8 * MiB)
    for (let i = 0; i < 10; i++) t.observe(1)
    expect(t.current()).toBe(10 * MiB)
  })

  it('settles into a sawtooth around the rate where p99 crosses the target', () => {
    // A toy cluster whose p99 grows with the copy rate: p99 = 5 ms + 1 ms per MiB/s.
    const t = new AimdThrottle(defaultAimd(25))
    const rates: number[] = []
    for (let i = 0; i < 200; i++) rates.push(t.observe(5 + t.current() / MiB))
    const tail = rates.slice(100)
    expect(Math.max(...tail)).toBeLessThanOrEqual(24 * MiB)
    expect(Math.min(...tail)).toBeGreaterThanOrEqual(8 * MiB)
  })
})
