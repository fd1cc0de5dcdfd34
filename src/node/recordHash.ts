import {murmur3} from '../model/hash.js'

const SEED_HI = 0x9747b28c
const SEED_LO = 0x5bd1e995

/**
 * recordHash returns the 64-bit digest contribution of a record as two unsigned 32-bit
 * halves: two seeded MurmurHash3 x86_32 of `key · 0x00 · version · tombstone flag`. The
 * value is left out on purpose: a version names one write, so (key, version, tombstone)
 * identifies the record and digests never rehash values up to 1 MiB.
 */
export function recordHash(key: Uint8Array, version: string, tombstone: boolean): [number, number] {
  const buf = Buffer.allocUnsafe(key.length + version.length + 2)
  buf.set(key, 0)
  buf[key.length] = 0
  buf.write(version, key.length + 1, 'latin1')
  buf[buf.length - 1] = tombstone ? 1 : 0
  return [murmur3(buf, SEED_HI), murmur3(buf, SEED_LO)]
}
