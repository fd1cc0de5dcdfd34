import {type NodeRecord} from './protocol.js'
import {MAX_KEY_BYTES, MAX_VALUE_BYTES} from '../model/recordLimits.js'

/**
 * The binary record batch (`application/x-shardctl-records`): values are up to 1 MiB and
 * binary, so JSON+base64 (+33 % bytes, a parse and a copy) is avoided on the hot paths
 * (writes, copy chunks, repair). Layout, little-endian:
 *
 *   u32 count, then per record:
 *   u8 flags (bit 0: tombstone) · u16 keyLen · u8 versionLen · u32 valueLen · key · version (ASCII) · value
 *
 * A tombstone has valueLen 0 and no value bytes.
 */
const HEADER = 4
/** RECORD_BATCH_HEADER is the bytes before a batch's first record (its u32 count). */
export const RECORD_BATCH_HEADER = HEADER
const RECORD_HEADER = 1 + 2 + 1 + 4
const FLAG_TOMBSTONE = 1

/** RecordCodecError is a malformed batch; the node answers it with 400 BAD_INPUT. */
export class RecordCodecError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'RecordCodecError'
  }
}

/** encodedRecordSize is the number of bytes `r` takes in a batch. */
export function encodedRecordSize(r: NodeRecord): number {
  return RECORD_HEADER + r.key.length + r.version.length + (r.value?.length ?? 0)
}

/**
 * encodeRecords serialises `records` into one buffer, from `alloc` (default
 * Buffer.allocUnsafe; a copy slice uses allocTransferable). Throws RangeError for an
 * oversize key, value or version.
 */
export function encodeRecords(records: readonly NodeRecord[], alloc: (size: number) => Buffer = Buffer.allocUnsafe): Buffer {
  let size = HEADER
  for (const r of records) size += encodedRecordSize(r)
  const out = alloc(size)
  const shared = out.buffer instanceof SharedArrayBuffer
  out.writeUInt32LE(records.length, 0)
  let o = HEADER
  for (const r of records) {
    if (r.key.length > MAX_KEY_BYTES) throw new RangeError(`key of ${r.key.length} bytes exceeds ${MAX_KEY_BYTES}`)
    if (r.version.length > 255) throw new RangeError('version longer than 255 characters')
    const vlen = r.value?.length ?? 0
    if (vlen > MAX_VALUE_BYTES) throw new RangeError(`value of ${vlen} bytes exceeds ${MAX_VALUE_BYTES}`)
    out.writeUInt8(r.value === null ? FLAG_TOMBSTONE : 0, o)
    out.writeUInt16LE(r.key.length, o + 1)
    out.writeUInt8(r.version.length, o + 3)
    out.writeUInt32LE(vlen, o + 4)
    o += RECORD_HEADER
    o = putBytes(out, r.key, o, shared)
    o += out.write(r.version, o, 'latin1')
    if (r.value) o = putBytes(out, r.value, o, shared)
  }
  return out
}

/**
 * NATIVE_FILL_MIN_BYTES: from this length on, bytes headed into shared memory are copied by
 * {@link putBytes}'s native fill; a shorter copy costs less through `copy` than one native call.
 */
const NATIVE_FILL_MIN_BYTES = 256

/**
 * putBytes copies `src` into `out` at `at` and returns the offset after it. Into a Buffer over
 * a SharedArrayBuffer (a copy page written into its slab, copyPageSlabs.ts) `copy` is
 * TypedArray.prototype.set, which V8 does with a relaxed-atomic copy that goes byte by byte
 * unless source and target sit at the same offset modulo 8: a value after a record's header,
 * key and version almost never does, and copying 64 KiB values that way took about 0.5 CPU ms
 * per MiB, a quarter of a source's whole copy cost (perf, session 37). `fill` with a value as
 * long as the range copies it once with a plain native memcpy (0.03 to 0.06 ms per MiB). Both
 * write the same bytes; nothing else touches a slab while its page is being encoded.
 */
function putBytes(out: Buffer, src: Buffer, at: number, shared: boolean): number {
  if (shared && src.length >= NATIVE_FILL_MIN_BYTES) {
    out.fill(src, at, at + src.length)
    return at + src.length
  }
  return at + src.copy(out, at)
}

/**
 * decodeRecords parses a batch. Keys and values are views into `buf` (no copy): callers
 * that keep them past `buf`'s lifetime must copy. Throws {@link RecordCodecError} on any
 * truncation, trailing bytes, oversize field or a version with non-ASCII bytes.
 */
export function decodeRecords(buf: Buffer): NodeRecord[] {
  if (buf.length < HEADER) throw new RecordCodecError('record batch shorter than its header')
  const count = buf.readUInt32LE(0)
  if (count > buf.length / RECORD_HEADER) throw new RecordCodecError(`record batch claims ${count} records in ${buf.length} bytes`)
  const out: NodeRecord[] = new Array(count)
  let o = HEADER
  for (let i = 0; i < count; i++) {
    if (o + RECORD_HEADER > buf.length) throw new RecordCodecError(`record ${i} truncated`)
    const flags = buf.readUInt8(o)
    const klen = buf.readUInt16LE(o + 1)
    const verLen = buf.readUInt8(o + 3)
    const vlen = buf.readUInt32LE(o + 4)
    o += RECORD_HEADER
    if (flags & ~FLAG_TOMBSTONE) throw new RecordCodecError(`record ${i} has unknown flags ${flags}`)
    const tombstone = (flags & FLAG_TOMBSTONE) !== 0
    if (klen > MAX_KEY_BYTES) throw new RecordCodecError(`record ${i}: key of ${klen} bytes exceeds ${MAX_KEY_BYTES}`)
    if (vlen > MAX_VALUE_BYTES) throw new RecordCodecError(`record ${i}: value of ${vlen} bytes exceeds ${MAX_VALUE_BYTES}`)
    if (tombstone && vlen !== 0) throw new RecordCodecError(`record ${i}: a tombstone carries a value`)
    if (o + klen + verLen + vlen > buf.length) throw new RecordCodecError(`record ${i} truncated`)
    const key = buf.subarray(o, o + klen)
    o += klen
    const version = buf.toString('latin1', o, o + verLen)
    o += verLen
    const value = tombstone ? null : buf.subarray(o, o + vlen)
    o += vlen
    out[i] = {key, version, value}
  }
  if (o !== buf.length) throw new RecordCodecError(`record batch has ${buf.length - o} trailing bytes`)
  return out
}
