import {describe, expect, it} from 'vitest'
import {bandText, boundText, ratioText} from '../../src/planner/ratioText.js'

describe('ratioText', () => {
  it('Given a ratio two decimals tell apart from its bounds, Then it has two decimals', () => {
    expect(ratioText(1.4142, [0.9, 1.1])).toBe('1.41')
    expect(ratioText(0, [0.9, 1.1])).toBe('0.00')
    expect(ratioText(1.1, [0.9, 1.1])).toBe('1.10') // on the bound: nothing to tell apart
  })

  it('Given a ratio that rounds onto a bound it is not on, Then it gets the digits that show the difference', () => {
    expect(ratioText(1.001998, [1, 1])).toBe('1.002')
    expect(ratioText(0.999001, [1])).toBe('0.999')
    expect(ratioText(1.1000004, [1.1])).toBe('1.1000004')
  })

  it('Given a ratio within the planner tolerance (1e-9) of a bound, Then it prints as the bound, not noise', () => {
    expect(ratioText(1 + 1e-12, [1])).toBe('1.00')
  })
})

describe('boundText and bandText', () => {
  it('write a bound with the digits it has, without float noise', () => {
    expect(boundText(2 - 1.1)).toBe('0.90')
    expect(boundText(2 - 1.005)).toBe('0.995')
    expect(bandText(2 - 1.005, 1.005)).toBe('0.995..1.005x the mean')
    expect(bandText(1, 1)).toBe('1.00..1.00x the mean')
  })
})
