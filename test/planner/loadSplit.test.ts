import {describe, expect, it} from 'vitest'
import {loadSplitPoint, MIN_SAMPLES} from '../../src/planner/loadSplit.js'

const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b)

describe('loadSplitPoint', () => {
  it('given load in the top quarter of the range, when choosing, then it splits where the sampled load halves, not at the midpoint', () => {
    // 32 requests spread over distinct keys in [750, 1000) of the range [0, 1000).
    const sample = sorted(Array.from({length: 32}, (_, i) => 750 + i * 7))
    const choice = loadSplitPoint(sample, 0, 1000)
    expect(choice.kind).toBe('load')
    if (choice.kind !== 'load') return
    expect(choice.at).toBeGreaterThan(750)
    expect(sample.filter((h) => h < choice.at).length).toBe(16)
    expect(choice.below).toBe(0.5)
  })

  it('given repeated hashes at the median, when choosing, then the cut never lands inside one key', () => {
    const sample = sorted([...Array.from({length: 6}, (_, i) => 100 + i), 500, 500, 500, 500, 500, ...Array.from({length: 6}, (_, i) => 900 + i)])
    const choice = loadSplitPoint(sample, 0, 1000)
    expect(choice.kind).toBe('load')
    if (choice.kind !== 'load') return
    // Every copy of 500 is on one side: either `at` is 500 (all above) or past it (all below).
    expect(choice.at === 500 || choice.at > 500).toBe(true)
    expect(choice.below).toBe(sample.filter((h) => h < choice.at).length / sample.length)
  })

  it('given one key with most of the requests, when choosing, then it reports the hot key instead of a split', () => {
    const sample = sorted([...Array(20).fill(4242), ...Array.from({length: 12}, (_, i) => i * 80)])
    expect(loadSplitPoint(sample, 0, 5000)).toEqual({kind: 'hot-key', hash: 4242, share: 20 / 32})
  })

  it('given too few samples in the range, when choosing, then it falls back to the hash midpoint', () => {
    const sample = sorted([...Array.from({length: MIN_SAMPLES - 1}, (_, i) => 10 + i), ...Array.from({length: 30}, (_, i) => 5000 + i)])
    expect(loadSplitPoint(sample, 0, 1000)).toEqual({kind: 'midpoint', at: 500, below: 0.5})
    expect(loadSplitPoint(undefined, 0, 1000)).toEqual({kind: 'midpoint', at: 500, below: 0.5})
  })

  it('given a range of one hash value, when choosing, then there is nothing to split', () => {
    expect(loadSplitPoint([5, 5, 5, 5, 5, 5, 5, 5], 5, 6)).toEqual({kind: 'none'})
  })
})
