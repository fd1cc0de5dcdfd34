import {describe, expect, it} from 'vitest'
import {EARLY_PUBLISH_COST_FACTOR, EARLY_PUBLISH_MIN_GAP_MS, earlyPublishAt, sameShards} from '../../src/node/statsPublishPacing.js'

describe('earlyPublishAt', () => {
  it('is at once when the node has not published yet', () => {
    expect(earlyPublishAt(undefined, 5000)).toBeLessThan(0)
  })

  it('leaves at least the minimum gap after a cheap publish started', () => {
    expect(earlyPublishAt({startedAt: 10_000, tookMs: 3}, 5000)).toBe(10_000 + EARLY_PUBLISH_MIN_GAP_MS)
  })

  it('waits longer after a costly publish, so early publishes take about a tenth of the time at most', () => {
    expect(earlyPublishAt({startedAt: 10_000, tookMs: 300}, 60_000)).toBe(10_000 + EARLY_PUBLISH_COST_FACTOR * 300)
  })

  it('is never later than the timer would publish anyway', () => {
    expect(earlyPublishAt({startedAt: 10_000, tookMs: 2000}, 5000)).toBe(15_000)
    expect(earlyPublishAt({startedAt: 10_000, tookMs: 3}, 100)).toBe(10_100)
  })
})

describe('sameShards', () => {
  it('is true only for the same ids in the same order', () => {
    expect(sameShards([], [])).toBe(true)
    expect(sameShards([1, 4], [1, 4])).toBe(true)
    expect(sameShards([1, 4], [1])).toBe(false)
    expect(sameShards([4], [])).toBe(false)
    expect(sameShards([1, 4], [1, 5])).toBe(false)
  })
})
