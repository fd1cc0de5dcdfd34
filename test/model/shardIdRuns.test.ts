import {describe, expect, it} from 'vitest'
import {shardIdRuns} from '../../src/model/shardIdRuns.js'

describe('shardIdRuns', () => {
  it('names a fresh cluster\'s ids as one run', () => {
    expect(shardIdRuns([0, 1, 2, 3, 4, 5, 6, 7])).toBe('0..7')
  })

  it('splits runs where ids are missing, in id order, without repeats', () => {
    expect(shardIdRuns([9, 0, 1, 2, 3, 5, 10, 5, 11])).toBe('0..3, 5, 9..11')
  })

  it('prints a single id and no ids plainly', () => {
    expect(shardIdRuns([4])).toBe('4')
    expect(shardIdRuns([])).toBe('')
  })

  it('summarises past maxRuns with the total count', () => {
    expect(shardIdRuns([0, 2, 4, 6, 8], 3)).toBe('0, 2, 4, … (5 shards)')
  })
})
