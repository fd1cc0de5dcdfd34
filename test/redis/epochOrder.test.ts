import {describe, expect, it} from 'vitest'
import {targetWillOutrankSource} from '../../src/redis/epochOrder.js'

/**
 * Each case is checked against what Redis 7.0 does on the target's SETSLOT NODE: raise its
 * epoch to currentEpoch + 1 (above every epoch it knows) when its own is 0 or not the highest
 * it knows, keep it otherwise. The source must end strictly below.
 */
describe('targetWillOutrankSource', () => {
  it('is safe when the target knows the source and is already above it (no raise needed)', () => {
    expect(targetWillOutrankSource({sourceOwn: 5, targetOwn: 9, sourceSeenByTarget: 5})).toBe(true)
  })

  it('is safe when the target knows the source is above it (the target raises past it)', () => {
    expect(targetWillOutrankSource({sourceOwn: 9, targetOwn: 5, sourceSeenByTarget: 9})).toBe(true)
  })

  it('waits while the target has not heard of the source raising its epoch (the bug of issue 17)', () => {
    // The target believes 9 is the top and keeps it; the source already claims its slots at 10.
    expect(targetWillOutrankSource({sourceOwn: 10, targetOwn: 9, sourceSeenByTarget: 8})).toBe(false)
  })

  it('waits while the target does not list the source at all', () => {
    expect(targetWillOutrankSource({sourceOwn: 1, targetOwn: 2, sourceSeenByTarget: undefined})).toBe(false)
  })

  it('waits out an epoch collision: the tie gives the target no win, and Redis may raise the source', () => {
    expect(targetWillOutrankSource({sourceOwn: 7, targetOwn: 7, sourceSeenByTarget: 7})).toBe(false)
  })

  it('is safe for a target at epoch 0, which always raises above everything it knows', () => {
    expect(targetWillOutrankSource({sourceOwn: 0, targetOwn: 0, sourceSeenByTarget: 0})).toBe(true)
  })
})
