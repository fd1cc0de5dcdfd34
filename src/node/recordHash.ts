import {crc32} from 'node:zlib'
import {murmur3Pair} from '../model/hash.js'

const SEED_HI = 0x9747b28c
const SEED_LO = 0x5bd1e995

/**
 * RECORD_HASH_FORMAT names the {@link recordHash} layout stored in a data dir's digest
 * cells (meta `format`) and the one a node's digests use unless a peer asks for another
 * ({@link recordHashAt}). Format 1 left the value out; format 2 hashes the value's bytes
 * with the rest; format 3 hashes a value longer than {@link INLINE_VALUE_MAX} through its
 * length and native CRC-32 (about a third of format 2's CPU per byte on 64 KiB values).
 * A data dir at another format is migrated on open.
 */
export const RECORD_HASH_FORMAT = 3

/** RecordHashFormat is a record hash layout this build can compute (see {@link RECORD_HASH_FORMAT}). */
export type RecordHashFormat = 2 | 3

/**
 * LEGACY_RECORD_HASH_FORMAT is the format of a digest that names none: nodes before format 3
 * neither sent nor read a format, and they hashed at format 2. A digest request without a
 * format is answered at it, so an executor or repair of the older build still compares
 * like with like during a rolling upgrade.
 */
export const LEGACY_RECORD_HASH_FORMAT: RecordHashFormat = 2

/** isRecordHashFormat tells whether this build can compute digests at `format`. */
export function isRecordHashFormat(format: number): format is RecordHashFormat {
  return format === 2 || format === 3
}

/**
 * INLINE_VALUE_MAX: in format 3, a value of at most this many bytes is hashed inline as in
 * format 2 (one native call costs more than hashing a few hundred bytes in JavaScript); a
 * longer one contributes its length and CRC-32.
 */
export const INLINE_VALUE_MAX = 512

/** Flag bytes after the version: what follows it. */
const FLAG_INLINE_VALUE = 0
const FLAG_TOMBSTONE = 1
const FLAG_SUMMARIZED_VALUE = 2

/**
 * recordHash returns the 64-bit digest contribution of a record at {@link RECORD_HASH_FORMAT}
 * as two unsigned 32-bit halves. It is `recordHashAt(RECORD_HASH_FORMAT, …)`.
 */
export function recordHash(key: Uint8Array, version: string, value: Uint8Array | null): [number, number] {
  return recordHashAt(RECORD_HASH_FORMAT, key, version, value)
}

/**
 * recordHashAt returns the 64-bit digest contribution of a record at `format` as two
 * unsigned 32-bit halves: two seeded MurmurHash3 x86_32 of `key · 0x00 · version · flag ·
 * tail`, where
 * - flag 1 is a tombstone (`value` null; no tail);
 * - flag 0 is a value hashed inline (tail: the value's bytes) — every value in format 2,
 *   values of at most {@link INLINE_VALUE_MAX} bytes in format 3;
 * - flag 2 (format 3 only) is a longer value (tail: its length and its CRC-32, both
 *   unsigned 32-bit little-endian).
 * The value takes part so a digest match means the replicas hold the same bytes, not only
 * the same versions. Two values under one key and version that differ only in content
 * collide with probability 2^-32 in format 3's summarized case (CRC-32 also catches every
 * burst of up to 32 flipped bits); LWW gives every write its own version, so such a pair
 * only comes from corruption or a misbehaving writer. Any difference of key, version,
 * tombstone flag or length gives a 64-bit-mixed different input.
 */
export function recordHashAt(format: RecordHashFormat, key: Uint8Array, version: string, value: Uint8Array | null): [number, number] {
  const summarize = format === 3 && value !== null && value.length > INLINE_VALUE_MAX
  const tailLength = value === null ? 0 : summarize ? 8 : value.length
  const buf = scratchOf(key.length + version.length + 2 + tailLength)
  buf.set(key, 0)
  buf[key.length] = 0
  buf.write(version, key.length + 1, 'latin1')
  const flagAt = key.length + 1 + version.length
  if (value === null) buf[flagAt] = FLAG_TOMBSTONE
  else if (summarize) {
    buf[flagAt] = FLAG_SUMMARIZED_VALUE
    buf.writeUInt32LE(value.length, flagAt + 1)
    buf.writeUInt32LE(crc32(value), flagAt + 5)
  } else {
    buf[flagAt] = FLAG_INLINE_VALUE
    buf.set(value, flagAt + 1)
  }
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
