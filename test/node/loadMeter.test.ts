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

describe('LoadMeter on a series that just started', () => {
  it('given a replica taken over at 80 reads/s, when one 1 s window is ticked, then it reports 80 (not the 8 a plain average started at 0 says)', () => {
    const m = new LoadMeter(0, 10_000)
    m.read(7, 80)
    m.tick(1000)
    expect(m.rate(7).reads).toBeCloseTo(80, 6)
  })

  it('given a steady rate that starts long after the meter did, then every estimate on the way is the real rate', () => {
    const m = new LoadMeter(0, 10_000)
    for (let t = 1; t <= 30; t++) m.tick(t * 1000)
    for (let t = 31; t <= 45; t++) {
      m.write(2, 40)
      m.tick(t * 1000)
      expect(m.rate(2).writes).toBeCloseTo(40, 6)
    }
  })

  it('given a replica given away and taken back, when retain drops it meanwhile, then its new series is not diluted by the old one', () => {
    const m = new LoadMeter(0, 10_000)
    for (let t = 1; t <= 60; t++) {
      m.read(4, 10)
      m.tick(t * 1000)
    }
    m.retain(new Set([9]))
    expect(m.rate(4).reads).toBe(0)
    for (let t = 61; t <= 120; t++) m.tick(t * 1000)
    m.read(4, 200)
    m.tick(121_000)
    expect(m.rate(4).reads).toBeCloseTo(200, 6)
  })

  it('given a series that starts with a burst and goes quiet, then the estimate falls towards the long-run rate', () => {
    const m = new LoadMeter(0, 10_000)
    m.read(5, 100)
    m.tick(1000)
    const first = m.rate(5).reads
    for (let t = 2; t <= 40; t++) m.tick(t * 1000)
    expect(first).toBeCloseTo(100, 6)
    expect(m.rate(5).reads).toBeLessThan(5)
  })
})
