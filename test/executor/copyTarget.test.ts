import {describe, expect, it} from 'vitest'
import {expectedCopyBytes} from '../../src/executor/copyTarget.js'

describe('expectedCopyBytes', () => {
  it('given one source read whole, then it is the planned size', () => {
    expect(expectedCopyBytes(35_959, {passes: 1, carriedDataBytes: 0, prefixDataBytes: 0})).toBe(35_959)
  })

  it('given a heal merging two replicas, each read whole, then it is twice the planned size (session 26 showed 71,936 of 35,959)', () => {
    expect(expectedCopyBytes(35_959, {passes: 2, carriedDataBytes: 0, prefixDataBytes: 0})).toBe(71_918)
  })

  it('given the source lost at 10,000 bytes and two replicas read from there, then the prefix counts once and the rest twice', () => {
    expect(expectedCopyBytes(35_959, {passes: 2, carriedDataBytes: 10_000, prefixDataBytes: 10_000})).toBe(10_000 + 2 * 25_959)
  })

  it('given no planned size, then it is unknown (0), whatever the passes; and a prefix past the estimate leaves only what was carried', () => {
    expect(expectedCopyBytes(0, {passes: 2, carriedDataBytes: 500, prefixDataBytes: 0})).toBe(0)
    expect(expectedCopyBytes(1_000, {passes: 2, carriedDataBytes: 1_200, prefixDataBytes: 1_200})).toBe(1_200)
  })
})
