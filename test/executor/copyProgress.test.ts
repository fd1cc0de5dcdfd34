import {describe, expect, it} from 'vitest'
import {CopyMeter, STALL_WINDOW_MS} from '../../src/executor/copyProgress.js'

describe('CopyMeter', () => {
  it('measures the rate over the window', () => {
    const m = new CopyMeter(0)
    m.record(500, 1000)
    m.record(1000, 1000)
    expect(m.rate(1000)).toBe(2000)
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
