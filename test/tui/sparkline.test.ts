import {describe, expect, it} from 'vitest'
import {SPARK_GLYPHS, sparkline} from '../../src/tui/sparkline.js'

describe('sparkline', () => {
  it('Given rising values, When drawn, Then the glyphs rise from the lowest to a full bar at the maximum', () => {
    expect(sparkline([0, 1, 2, 3, 4, 5, 6, 7, 8], 9)).toBe('▁▁▂▃▄▅▆▇█')
  })

  it('Given an explicit scale, When values stay under it, Then none is drawn full; above it they are clamped to full', () => {
    expect(sparkline([50, 50], 2, 100)).toBe('▄▄')
    expect(sparkline([500], 1, 100)).toBe('█')
  })

  it('Given unknown values (null) and zeros, When drawn, Then unknown is blank and zero the lowest glyph', () => {
    expect(sparkline([null, 0, 4], 3)).toBe(' ▁█')
  })

  it('Given more values than cells, When drawn, Then only the newest `width` values show', () => {
    expect(sparkline([8, 8, 8, 0, 8], 2)).toBe('▁█')
    expect(sparkline([1, 2], 0)).toBe('')
  })

  it('Given any values, When drawn, Then every cell is a glyph or a blank and the line is at most `width` long', () => {
    const values = Array.from({length: 50}, (_, i) => (i % 7 === 0 ? null : (i * 37) % 11))
    const line = sparkline(values, 20)
    expect(line).toHaveLength(20)
    for (const ch of line) expect(SPARK_GLYPHS + ' ').toContain(ch)
  })
})
