/**
 * The key hash: MurmurHash3 x86_32 (seed 0) of the key's UTF-8 bytes, an unsigned 32-bit
 * integer. Stable across processes, platforms and versions; changing it would move every
 * key, so it is recorded in the cluster meta (`hash: "murmur3-x86_32"`).
 */
export const HASH_NAME = 'murmur3-x86_32'

/** HASH_SPACE is the size of the hash space: hashes lie in [0, HASH_SPACE). */
export const HASH_SPACE = 2 ** 32

const C1 = 0xcc9e2d51
const C2 = 0x1b873593

/** murmur3 returns MurmurHash3 x86_32 of `bytes` with `seed`, as an unsigned integer. */
export function murmur3(bytes: Uint8Array, seed = 0): number {
  let h = seed >>> 0
  const len = bytes.length
  const blocks = len & ~3
  for (let i = 0; i < blocks; i += 4) {
    let k = bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24)
    k = Math.imul(k, C1)
    k = (k << 15) | (k >>> 17)
    k = Math.imul(k, C2)
    h ^= k
    h = (h << 13) | (h >>> 19)
    h = (Math.imul(h, 5) + 0xe6546b64) | 0
  }
  let k = 0
  switch (len & 3) {
    case 3:
      k ^= bytes[blocks + 2]! << 16
    // falls through
    case 2:
      k ^= bytes[blocks + 1]! << 8
    // falls through
    case 1:
      k ^= bytes[blocks]!
      k = Math.imul(k, C1)
      k = (k << 15) | (k >>> 17)
      k = Math.imul(k, C2)
      h ^= k
  }
  h ^= len
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}

const encoder = new TextEncoder()

/** keyHash returns the position of `key` in the hash space (see {@link HASH_NAME}). */
export function keyHash(key: string | Uint8Array): number {
  return murmur3(typeof key === 'string' ? encoder.encode(key) : key)
}
