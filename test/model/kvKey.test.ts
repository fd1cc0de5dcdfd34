import {describe, expect, it} from 'vitest'
import {kvKeyProblem} from '../../src/model/kvKey.js'
import {MAX_KEY_BYTES} from '../../src/model/recordLimits.js'

describe('kvKeyProblem', () => {
  it('given keys up to the limit in UTF-8 bytes, then none is refused', () => {
    for (const key of ['a', 'x'.repeat(MAX_KEY_BYTES), 'é'.repeat(MAX_KEY_BYTES / 2), '🙂'.repeat(MAX_KEY_BYTES / 4)]) expect(kvKeyProblem(key)).toBeUndefined()
  })

  it('given an empty key or one a byte over the limit (counted in UTF-8, not characters), then it says which', () => {
    expect(kvKeyProblem('')).toBe('the key is empty')
    expect(kvKeyProblem('x'.repeat(MAX_KEY_BYTES + 1))).toBe('the key is 4097 bytes long in UTF-8; keys are at most 4096 bytes')
    // 2049 characters but 4098 bytes: a character count would let it through.
    expect(kvKeyProblem('é'.repeat(MAX_KEY_BYTES / 2 + 1))).toMatch(/4098 bytes/)
  })
})
