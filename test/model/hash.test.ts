import {describe, expect, it} from 'vitest'
import {HASH_SPACE, keyHash, murmur3, murmur3Pair} from '../../src/model/hash.js'

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

describe('murmur3Pair', () => {
  // Deterministic pseudo-random bytes, so a failure reproduces.
  const bytesOf = (n: number, seed: number) => {
    const out = Buffer.allocUnsafeSlow(n + 3)
    let x = seed
    for (let i = 0; i < out.length; i++) out[i] = (x = (Math.imul(x, 1103515245) + 12345) >>> 0) >>> 24
    return out
  }

  it('equals two murmur3 calls with its two seeds, for every length 0..70 and at every byte alignment', () => {
    for (let len = 0; len <= 70; len++) {
      const whole = bytesOf(len, len + 1)
      for (let offset = 0; offset < 4; offset++) {
        const view = whole.subarray(offset, offset + Math.min(len, whole.length - offset))
        expect(murmur3Pair(view, 0x9747b28c, 0x5bd1e995)).toEqual([murmur3(view, 0x9747b28c), murmur3(view, 0x5bd1e995)])
      }
    }
  })

  it('equals two murmur3 calls on a 64 KiB aligned buffer and with seed 0 (the key hash)', () => {
    const big = bytesOf(64 * 1024, 7).subarray(0, 64 * 1024)
    expect(big.byteOffset % 4).toBe(0)
    expect(murmur3Pair(big, 0, 42)).toEqual([murmur3(big, 0), murmur3(big, 42)])
  })

  it('matches the published MurmurHash3 x86_32 vectors', () => {
    const enc = (s: string) => new TextEncoder().encode(s)
    expect(murmur3Pair(enc(''), 0, 1)).toEqual([0, 0x514e28b7])
    expect(murmur3Pair(enc('Hello, world!'), 1234, 0)[0]).toBe(0xfaf6cdb3)
    expect(murmur3Pair(enc('The quick brown fox jumps over the lazy dog'), 0x9747b28c, 0)[0]).toBe(0x2fa826cd)
  })
})
