import fc from 'fast-check'
import {describe, expect, it} from 'vitest'
import {murmur3Pair} from '../../src/model/hash.js'
import {crc32} from 'node:zlib'
import {INLINE_VALUE_MAX, RECORD_HASH_FORMAT, recordHash, recordHashAt} from '../../src/node/recordHash.js'

/** reference is format 2 as specified: the two seeded hashes of a fresh `key · 0x00 · version · flag · value`. */
function reference(key: Uint8Array, version: string, value: Uint8Array | null): [number, number] {
  const parts = [Buffer.from(key), Buffer.from([0]), Buffer.from(version, 'latin1'), Buffer.from([value === null ? 1 : 0])]
  if (value) parts.push(Buffer.from(value))
  return murmur3Pair(Buffer.concat(parts), 0x9747b28c, 0x5bd1e995)
}

/** reference3 is format 3 as specified: a value longer than INLINE_VALUE_MAX becomes flag 2 · length · CRC-32 (u32 LE each). */
function reference3(key: Uint8Array, version: string, value: Uint8Array | null): [number, number] {
  if (value === null || value.length <= INLINE_VALUE_MAX) return reference(key, version, value)
  const tail = Buffer.alloc(8)
  tail.writeUInt32LE(value.length, 0)
  tail.writeUInt32LE(crc32(value), 4)
  return murmur3Pair(Buffer.concat([Buffer.from(key), Buffer.from([0]), Buffer.from(version, 'latin1'), Buffer.from([2]), tail]), 0x9747b28c, 0x5bd1e995)
}

const printable = (s: string) => s.replace(/[^\x20-\x7e]/g, 'x')

describe('recordHash format 3', () => {
  it('is the current format and recordHash computes it', () => {
    expect(RECORD_HASH_FORMAT).toBe(3)
    const value = Buffer.alloc(70_000, 7)
    expect(recordHash(Buffer.from('k'), 'v1', value)).toEqual(recordHashAt(3, Buffer.from('k'), 'v1', value))
  })

  it('given any record, when hashed at format 3, then it equals the specified layout (inline up to INLINE_VALUE_MAX bytes, length and CRC-32 beyond)', () => {
    const size = fc.oneof(fc.integer({min: 0, max: 70_000}), fc.constantFrom(0, 1, INLINE_VALUE_MAX - 1, INLINE_VALUE_MAX, INLINE_VALUE_MAX + 1, 65_536, 1024 * 1024))
    fc.assert(
      fc.property(fc.uint8Array({minLength: 1, maxLength: 30}), fc.string({maxLength: 40}), size, fc.boolean(), fc.nat({max: 255}), (key, version, n, tomb, fill) => {
        const value = tomb ? null : Buffer.alloc(n, fill)
        if (value && n > 2) value[n - 1] = fill ^ 0xff
        expect(recordHashAt(3, key, printable(version), value)).toEqual(reference3(key, printable(version), value))
      }),
      {numRuns: 80},
    )
  })

  it('given a record, when any one byte of its key, version or value, its length or its tombstone flag changes, then its format-3 hash changes', () => {
    const size = fc.oneof(fc.integer({min: 0, max: 2 * INLINE_VALUE_MAX}), fc.integer({min: INLINE_VALUE_MAX + 1, max: 200_000}))
    fc.assert(
      fc.property(
        fc.uint8Array({minLength: 1, maxLength: 40}),
        fc.stringMatching(/^[0-9a-f]{16}-[0-9a-f]{5}-[a-z0-9]{1,8}$/),
        size,
        fc.nat(),
        fc.integer({min: 1, max: 255}),
        fc.constantFrom('key', 'version', 'value', 'grow', 'shrink', 'tombstone'),
        (key, version, n, at, flip, what) => {
          const value = Buffer.alloc(n)
          for (let i = 0; i < n; i++) value[i] = (i * 131 + at) & 0xff
          const before = recordHashAt(3, key, version, value)
          // Equal inputs, fresh buffers: equal hashes.
          expect(recordHashAt(3, Buffer.from(key), version, Buffer.from(value))).toEqual(before)
          let after: [number, number]
          if (what === 'key') {
            const k = Buffer.from(key)
            k[at % k.length] = (k[at % k.length] ?? 0) ^ flip
            after = recordHashAt(3, k, version, value)
          } else if (what === 'version') {
            const i = at % version.length
            const c = version.charCodeAt(i) === 0x30 ? '1' : '0'
            after = recordHashAt(3, key, version.slice(0, i) + c + version.slice(i + 1), value)
          } else if (what === 'value') {
            if (n === 0) return
            const v = Buffer.from(value)
            v[at % n] = (v[at % n] ?? 0) ^ flip
            after = recordHashAt(3, key, version, v)
          } else if (what === 'grow') after = recordHashAt(3, key, version, Buffer.concat([value, Buffer.alloc(1)]))
          else if (what === 'shrink') {
            if (n === 0) return
            after = recordHashAt(3, key, version, value.subarray(0, n - 1))
          } else after = recordHashAt(3, key, version, null)
          expect(after).not.toEqual(before)
        },
      ),
      {numRuns: 400},
    )
  })

  it('given a tombstone, an empty value, a one-byte zero value and a summarized value of zeros, when hashed, then all four differ', () => {
    const key = Buffer.from('k')
    const hashes = [null, Buffer.alloc(0), Buffer.alloc(1), Buffer.alloc(INLINE_VALUE_MAX + 1)].map((v) => recordHashAt(3, key, 'v1', v).join(':'))
    expect(new Set(hashes).size).toBe(4)
  })

  it('given a value just over the inline limit, when hashed at formats 2 and 3, then they differ; at or under it, they are equal', () => {
    const key = Buffer.from('k')
    expect(recordHashAt(3, key, 'v1', Buffer.alloc(INLINE_VALUE_MAX, 3))).toEqual(recordHashAt(2, key, 'v1', Buffer.alloc(INLINE_VALUE_MAX, 3)))
    expect(recordHashAt(3, key, 'v1', Buffer.alloc(INLINE_VALUE_MAX + 1, 3))).not.toEqual(recordHashAt(2, key, 'v1', Buffer.alloc(INLINE_VALUE_MAX + 1, 3)))
  })
})

describe('recordHash format 2', () => {
  it('given records of any size one after another (its scratch buffer reused and grown), when hashed, then each equals the hash of its own fresh bytes', () => {
    const size = fc.oneof(fc.integer({min: 0, max: 70_000}), fc.constantFrom(0, 1, 3, 4, 65_536, 65_537, 1024 * 1024, 2 * 1024 * 1024 + 5))
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.uint8Array({minLength: 1, maxLength: 30}), fc.string({maxLength: 40}), size, fc.boolean(), fc.nat({max: 255})), {minLength: 1, maxLength: 6}),
        (records) => {
          for (const [key, version, n, tomb, fill] of records) {
            const value = tomb ? null : Buffer.alloc(n, fill).subarray(0, n)
            if (value && n > 2) value[n - 1] = fill ^ 0xff
            expect(recordHashAt(2, key, version.replace(/[^\x20-\x7e]/g, 'x'), value)).toEqual(reference(key, version.replace(/[^\x20-\x7e]/g, 'x'), value))
          }
        },
      ),
      {numRuns: 60},
    )
  })

  it('given an unaligned view of a value, when hashed, then it equals the hash of the same bytes aligned', () => {
    const batch = Buffer.alloc(70_003)
    for (let i = 0; i < batch.length; i++) batch[i] = (i * 31) & 0xff
    for (const off of [0, 1, 2, 3]) {
      const value = batch.subarray(off, off + 65_536)
      expect(recordHashAt(2, Buffer.from('k'), 'v1', value)).toEqual(reference(Buffer.from('k'), 'v1', Buffer.from(value)))
    }
  })
})
