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
  return fmix(h ^ tailBlock(bytes, blocks) ^ len)
}

/** LITTLE_ENDIAN: a word read through an Int32Array is the block MurmurHash3 x86 reads (its blocks are little-endian). */
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1

/**
 * murmur3Pair returns MurmurHash3 x86_32 of `bytes` with `seedA` and with `seedB`, exactly
 * `[murmur3(bytes, seedA), murmur3(bytes, seedB)]`, in one pass: the per-block mixing of
 * the input does not depend on the seed, so it is done once for both. Blocks are read as
 * 32-bit words when `bytes` is 4-byte aligned (a fresh Buffer of 4 KiB or more always is).
 * Record digests hash every value twice this way, and hashing was the largest cost of
 * applying a copy after SQLite itself.
 */
export function murmur3Pair(bytes: Uint8Array, seedA: number, seedB: number): [number, number] {
  let a = seedA >>> 0
  let b = seedB >>> 0
  const len = bytes.length
  const words = len >>> 2
  const blocks = words << 2
  if (LITTLE_ENDIAN && (bytes.byteOffset & 3) === 0) {
    const w32 = new Int32Array(bytes.buffer, bytes.byteOffset, words)
    for (let i = 0; i < words; i++) {
      let k = Math.imul(w32[i]!, C1)
      k = (k << 15) | (k >>> 17)
      k = Math.imul(k, C2)
      a ^= k
      a = (a << 13) | (a >>> 19)
      a = (Math.imul(a, 5) + 0xe6546b64) | 0
      b ^= k
      b = (b << 13) | (b >>> 19)
      b = (Math.imul(b, 5) + 0xe6546b64) | 0
    }
  } else {
    for (let i = 0; i < blocks; i += 4) {
      let k = bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24)
      k = Math.imul(k, C1)
      k = (k << 15) | (k >>> 17)
      k = Math.imul(k, C2)
      a ^= k
      a = (a << 13) | (a >>> 19)
      a = (Math.imul(a, 5) + 0xe6546b64) | 0
      b ^= k
      b = (b << 13) | (b >>> 19)
      b = (Math.imul(b, 5) + 0xe6546b64) | 0
    }
  }
  const tail = tailBlock(bytes, blocks)
  return [fmix(a ^ tail ^ len), fmix(b ^ tail ^ len)]
}

/**
 * tailBlock is MurmurHash3's mixed value of the 1 to 3 bytes after the last whole block
 * (from `blocks`), to be xored into the hash; 0 when there are none. The two hashes above
 * keep their block loops written out: they are the hot path of routing and of digests.
 */
function tailBlock(bytes: Uint8Array, blocks: number): number {
  let k = 0
  switch (bytes.length - blocks) {
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
      return Math.imul(k, C2)
  }
  return 0
}

/** fmix is MurmurHash3's finalisation mix, as an unsigned integer. */
function fmix(h: number): number {
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
