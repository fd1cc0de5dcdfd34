import {describe, expect, it} from 'vitest'
import {LoadMeter} from '../../src/node/loadMeter.js'

describe('LoadMeter', () => {
  it('given a steady 100 writes/s, when ticked for a long time, then the rate converges to 100', () => {
    const m = new LoadMeter(0, 10_000)
    for (let t = 1; t <= 120; t++) {
      m.write(3, 100)
      m.tick(t * 1000)
    }
    expect(m.rate(3).writes).toBeCloseTo(100, 0)
    expect(m.rate(3).reads).toBe(0)
  })

  it('given load that stops, when one time constant passes, then the rate decays to about 1/e', () => {
    const m = new LoadMeter(0, 10_000)
    for (let t = 1; t <= 120; t++) {
      m.read(1, 50)
      m.tick(t * 1000)
    }
    for (let t = 121; t <= 130; t++) m.tick(t * 1000)
    expect(m.rate(1).reads).toBeCloseTo(50 / Math.E, 0)
  })

  it('given irregular ticks, when the rate is steady, then the estimate does not depend on tick spacing', () => {
    const m = new LoadMeter(0, 5000)
    let t = 0
    for (let i = 0; i < 200; i++) {
      const dt = i % 3 === 0 ? 250 : 1700
      m.write(0, (20 * dt) / 1000)
      t += dt
      m.tick(t)
    }
    expect(m.rate(0).writes).toBeCloseTo(20, 0)
  })
})
