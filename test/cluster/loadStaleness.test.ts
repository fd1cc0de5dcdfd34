import {describe, expect, it} from 'vitest'
import {loadPredatesMap} from '../../src/cluster/loadStaleness.js'

describe('loadPredatesMap', () => {
  it('compares the counts only: the summary carries no map revision', () => {
    expect(loadPredatesMap(3, 3)).toBe(false)
    expect(loadPredatesMap(3, 2)).toBe(true)
    expect(loadPredatesMap(0, 1)).toBe(true)
  })
})
