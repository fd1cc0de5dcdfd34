import fc from 'fast-check'
import {describe, expect, it} from 'vitest'
import {murmur3Pair} from '../../src/model/hash.js'
import {recordHash} from '../../src/node/recordHash.js'

/** reference is recordHash as specified: the two seeded hashes of a fresh `key · 0x00 · version · flag · value`. */
function reference(key: Uint8Array, version: string, value: Uint8Array | null): [number, number] {
  const parts = [Buffer.from(key), Buffer.from([0]), Buffer.from(version, 'latin1'), Buffer.from([value === null ? 1 : 0])]
  if (value) parts.push(Buffer.from(value))
  return murmur3Pair(Buffer.concat(parts), 0x9747b28c, 0x5bd1e995)
}

describe('recordHash', () => {
  it('given records of any size one after another (its scratch buffer reused and grown), when hashed, then each equals the hash of its own fresh bytes', () => {
    const size = fc.oneof(fc.integer({min: 0, max: 70_000}), fc.constantFrom(0, 1, 3, 4, 65_536, 65_537, 1024 * 1024, 2 * 1024 * 1024 + 5))
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.uint8Array({minLength: 1, maxLength: 30}), fc.string({maxLength: 40}), size, fc.boolean(), fc.nat({max: 255})), {minLength: 1, maxLength: 6}),
        (records) => {
          for (const [key, version, n, tomb, fill] of records) {
            const value = tomb ? null : Buffer.alloc(n, fill).subarray(0, n)
            if (value && n > 2) value[n - 1] = fill ^ 0xff
            expect(recordHash(key, version.replace(/[^\x20-\x7e]/g, 'x'), value)).toEqual(reference(key, version.replace(/[^\x20-\x7e]/g, 'x'), value))
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
      expect(recordHash(Buffer.from('k'), 'v1', value)).toEqual(reference(Buffer.from('k'), 'v1', Buffer.from(value)))
    }
  })
})
