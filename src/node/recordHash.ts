import {murmur3Pair} from '../model/hash.js'

const SEED_HI = 0x9747b28c
const SEED_LO = 0x5bd1e995

/**
 * RECORD_HASH_FORMAT names the {@link recordHash} layout stored in a data dir's digest
 * cells (meta `format`). Format 1 left the value out; format 2 hashes it too, so two
 * replicas holding different values under one version (a misbehaving writer, a corrupted
 * row) no longer compare equal. A data dir at an older format is migrated on open.
 */
export const RECORD_HASH_FORMAT = 2

/**
 * recordHash returns the 64-bit digest contribution of a record as two unsigned 32-bit
 * halves: two seeded MurmurHash3 x86_32 of `key · 0x00 · version · flag · value`, where
 * flag is 1 for a tombstone (`value` null, nothing follows) and 0 for a value. The value
 * is included so a digest match means the replicas hold the same bytes, not only the
 * same versions.
 */
export function recordHash(key: Uint8Array, version: string, value: Uint8Array | null): [number, number] {
  const valueLength = value?.length ?? 0
  const buf = scratchOf(key.length + version.length + 2 + valueLength)
  buf.set(key, 0)
  buf[key.length] = 0
  buf.write(version, key.length + 1, 'latin1')
  const flagAt = key.length + 1 + version.length
  buf[flagAt] = value === null ? 1 : 0
  if (value !== null) buf.set(value, flagAt + 1)
  return murmur3Pair(buf, SEED_HI, SEED_LO)
}

/** SCRATCH_KEEP_BYTES: a scratch buffer up to this size is kept for the next record (a value is at most 1 MiB). */
const SCRATCH_KEEP_BYTES = 2 * 1024 * 1024
let scratch = Buffer.allocUnsafeSlow(64 * 1024 + 1024)

/**
 * scratchOf returns a view of `size` bytes of one buffer reused by every call (4-byte
 * aligned, so murmur3Pair reads whole words). A copy applies one 64 KiB value after
 * another: a fresh buffer each was garbage for the writer thread's GC at every record.
 * recordHash only reads the view before it returns, so reuse is safe.
 */
function scratchOf(size: number): Buffer {
  if (size <= scratch.length) return scratch.subarray(0, size)
  const grown = Buffer.allocUnsafeSlow(size)
  if (size <= SCRATCH_KEEP_BYTES) scratch = grown
  return grown
}
