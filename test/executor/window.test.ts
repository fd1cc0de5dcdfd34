import {describe, expect, it} from 'vitest'
import {inWindow, parseWindow} from '../../src/executor/window.js'

const at = (h: number, m: number) => new Date(2026, 0, 1, h, m)

describe('maintenance window', () => {
  it('contains times from start (inclusive) to end (exclusive)', () => {
    const w = parseWindow('01:00-05:00')
    expect(inWindow(w, at(0, 59))).toBe(false)
    expect(inWindow(w, at(1, 0))).toBe(true)
    expect(inWindow(w, at(4, 59))).toBe(true)
    expect(inWindow(w, at(5, 0))).toBe(false)
  })

  it('wraps past midnight', () => {
    const w = parseWindow('22:30-02:00')
    expect(inWindow(w, at(23, 0))).toBe(true)
    expect(inWindow(w, at(1, 59))).toBe(true)
    expect(inWindow(w, at(12, 0))).toBe(false)
  })

  it('rejects malformed windows', () => {
    for (const bad of ['1-5', '25:00-01:00', '01:00-01:00', '01:60-02:00']) expect(() => parseWindow(bad)).toThrow(RangeError)
  })
})
