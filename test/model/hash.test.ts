import {describe, expect, it} from 'vitest'
import {HASH_SPACE, keyHash, murmur3} from '../../src/model/hash.js'

const bytes = (s: string) => new TextEncoder().encode(s)

describe('murmur3', () => {
  it('matches the reference MurmurHash3_x86_32 vectors', () => {
    expect(murmur3(bytes(''), 0)).toBe(0)
    expect(murmur3(bytes(''), 1)).toBe(0x514e28b7)
    expect(murmur3(bytes(''), 0xffffffff)).toBe(0x81f16f39)
    expect(murmur3(bytes('test'), 0)).toBe(0xba6bd213)
    expect(murmur3(bytes('Hello, world!'), 0)).toBe(0xc0363e43)
    expect(murmur3(bytes('The quick brown fox jumps over the lazy dog'), 0)).toBe(0x2e4ff723)
  })

  it('covers every tail length', () => {
    const seen = new Set<number>()
    for (const s of ['a', 'ab', 'abc', 'abcd', 'abcde']) seen.add(murmur3(bytes(s)))
    expect(seen.size).toBe(5)
  })
})

describe('keyHash', () => {
  it('hashes strings by their UTF-8 bytes, within the hash space', () => {
    expect(keyHash('user:42')).toBe(keyHash(bytes('user:42')))
    expect(keyHash('ключ')).toBe(murmur3(bytes('ключ')))
    for (let i = 0; i < 1000; i++) {
      const h = keyHash(`k${i}`)
      expect(h).toBeGreaterThanOrEqual(0)
      expect(h).toBeLessThan(HASH_SPACE)
      expect(Number.isInteger(h)).toBe(true)
    }
  })

  it('spreads keys evenly over 16 equal ranges (within 10% of the mean for 64k keys)', () => {
    const counts = new Array(16).fill(0)
    for (let i = 0; i < 65536; i++) counts[Math.floor(keyHash(`key-${i}`) / (HASH_SPACE / 16))]++
    for (const c of counts) expect(Math.abs(c - 4096) / 4096).toBeLessThan(0.1)
  })
})
