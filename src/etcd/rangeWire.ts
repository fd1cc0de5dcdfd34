import {type StoredValue} from '../store/store.js'

/**
 * The wire format of etcd's KV Range call, encoded and decoded by hand for the page reads
 * that load a whole shard map (100k keys at start-up of every node and router). etcd3 decodes
 * a response into protobufjs objects, then `toObject`s it with every 64-bit integer as a
 * string, and the store then turns those strings into bigints: about ten objects per key and
 * about a second of CPU (with its garbage collection) at 100k keys. Here the bytes become
 * {@link StoredValue}s directly. Pure: no I/O.
 *
 * Messages (etcd's rpc.proto and kv.proto):
 * RangeRequest {bytes key = 1; bytes range_end = 2; int64 limit = 3; int64 revision = 4}
 * RangeResponse {ResponseHeader header = 1; repeated KeyValue kvs = 2; bool more = 3; int64 count = 4}
 * ResponseHeader {uint64 cluster_id = 1; uint64 member_id = 2; int64 revision = 3; uint64 raft_term = 4}
 * KeyValue {bytes key = 1; int64 create_revision = 2; int64 mod_revision = 3; int64 version = 4; bytes value = 5; int64 lease = 6}
 */

/** RangeQuery is the part of a RangeRequest the store's page reads use. */
export interface RangeQuery {
  key: string
  rangeEnd: string
  limit: number
  /** revision to read at; omitted: etcd's current one. */
  revision?: bigint
}

/** RangeAnswer is a decoded RangeResponse. */
export interface RangeAnswer {
  kvs: StoredValue[]
  more: boolean
  /** revision is the header's: the store's revision when the range was served. */
  revision: bigint
}

/** encodeRangeRequest encodes a RangeRequest (fields left at their defaults are omitted, as protobuf does). */
export function encodeRangeRequest(q: RangeQuery): Buffer {
  const parts: Buffer[] = []
  const bytesField = (field: number, s: string) => {
    const b = Buffer.from(s, 'utf8')
    parts.push(Buffer.from(varint(BigInt((field << 3) | 2))), Buffer.from(varint(BigInt(b.length))), b)
  }
  const intField = (field: number, v: bigint) => {
    if (v !== 0n) parts.push(Buffer.from(varint(BigInt(field << 3))), Buffer.from(varint(BigInt.asUintN(64, v))))
  }
  bytesField(1, q.key)
  if (q.rangeEnd !== '') bytesField(2, q.rangeEnd)
  intField(3, BigInt(q.limit))
  intField(4, q.revision ?? 0n)
  return Buffer.concat(parts)
}

function varint(v: bigint): number[] {
  const out: number[] = []
  do {
    let byte = Number(v & 0x7fn)
    v >>= 7n
    if (v !== 0n) byte |= 0x80
    out.push(byte)
  } while (v !== 0n)
  return out
}

/** Utf8Slicing is Node's Buffer with its own UTF-8 slice method (on every Buffer, not in the typings). */
type Utf8Slicing = Buffer & {utf8Slice?: (start: number, end: number) => string}

/**
 * utf8Slice decodes `buf` from `start` to `end` as UTF-8, as `buf.toString('utf8', start, end)`
 * does, but straight through the method that call ends in: the two strings of every key
 * (200k calls at 100k keys) spent more in `toString`'s encoding look-up than in decoding.
 * Falls back to `toString` where the method is absent.
 */
export function utf8Slice(buf: Buffer, start: number, end: number): string {
  const slicing = buf as Utf8Slicing
  return typeof slicing.utf8Slice === 'function' ? slicing.utf8Slice(start, end) : buf.toString('utf8', start, end)
}

/** WireError: the bytes are not a well-formed message of the expected shape. */
export class WireError extends Error {}

/** Reader walks protobuf wire format over one buffer. */
class Reader {
  pos: number
  constructor(
    readonly buf: Buffer,
    start: number,
    readonly end: number,
  ) {
    this.pos = start
  }

  /**
   * uint reads a varint as a non-negative safe integer (field tags, lengths); anything else
   * throws. Tags and lengths are read several times per key: up to 7 bytes (below 2^49)
   * they are summed as a number, without the bigint {@link int64} makes.
   */
  uint(): number {
    const n = this.short()
    if (n !== undefined) return n
    const v = this.int64()
    if (v < 0n || v > BigInt(Number.MAX_SAFE_INTEGER)) throw new WireError('varint out of range')
    return Number(v)
  }

  /**
   * short reads a varint of up to 7 bytes (below 2^49) as a number, without bigint
   * arithmetic per byte; a longer one is left unread (undefined) for the bigint path.
   */
  private short(): number | undefined {
    const start = this.pos
    let n = 0
    let mul = 1
    for (let i = 0; i < 7; i++) {
      if (this.pos >= this.end) throw new WireError('truncated varint')
      const b = this.buf[this.pos++] ?? 0
      n += (b & 0x7f) * mul
      if (b < 0x80) return n
      mul *= 128
    }
    this.pos = start
    return undefined
  }

  /** text decodes the UTF-8 bytes of a length-delimited field and moves past it. */
  text(): string {
    const [start, end] = this.sub()
    return utf8Slice(this.buf, start, end)
  }

  /** int64 reads a varint as a signed 64-bit integer (numbers below 2^49, the common case, without bigint arithmetic per byte). */
  int64(): bigint {
    const n = this.short()
    if (n !== undefined) return BigInt(n)
    let v = 0n
    for (let shift = 0n; ; shift += 7n) {
      if (shift > 63n) throw new WireError('varint longer than 10 bytes')
      if (this.pos >= this.end) throw new WireError('truncated varint')
      const b = this.buf[this.pos++] ?? 0
      v |= BigInt(b & 0x7f) << shift
      if (b < 0x80) return BigInt.asIntN(64, v)
    }
  }

  /** sub returns the bounds of a length-delimited field's body and moves past it. */
  sub(): [number, number] {
    const len = this.uint()
    const start = this.pos
    if (start + len > this.end) throw new WireError('length beyond the message')
    this.pos = start + len
    return [start, start + len]
  }

  skip(wireType: number): void {
    if (wireType === 0) this.int64()
    else if (wireType === 1) this.pos += 8
    else if (wireType === 2) this.sub()
    else if (wireType === 5) this.pos += 4
    else throw new WireError(`unsupported wire type ${wireType}`)
    if (this.pos > this.end) throw new WireError('field beyond the message')
  }
}

/** decodeRangeResponse decodes a RangeResponse's bytes. Throws {@link WireError} on malformed input. */
export function decodeRangeResponse(buf: Buffer): RangeAnswer {
  const r = new Reader(buf, 0, buf.length)
  const kvs: StoredValue[] = []
  let more = false
  let revision = 0n
  while (r.pos < r.end) {
    const tag = r.uint()
    const field = Math.floor(tag / 8)
    const wire = tag & 7
    if (field === 1 && wire === 2) revision = headerRevision(new Reader(buf, ...r.sub()))
    else if (field === 2 && wire === 2) kvs.push(keyValue(new Reader(buf, ...r.sub())))
    else if (field === 3 && wire === 0) more = r.int64() !== 0n
    else r.skip(wire)
  }
  return {kvs, more, revision}
}

function headerRevision(r: Reader): bigint {
  let revision = 0n
  while (r.pos < r.end) {
    const tag = r.uint()
    if (tag === (3 << 3)) revision = r.int64()
    else r.skip(tag & 7)
  }
  return revision
}

function keyValue(r: Reader): StoredValue {
  let key = ''
  let value = ''
  let createRevision = 0n
  let modRevision = 0n
  let version = 0n
  let lease = 0n
  while (r.pos < r.end) {
    const tag = r.uint()
    switch (tag) {
      case (1 << 3) | 2:
        key = r.text()
        break
      case 2 << 3:
        createRevision = r.int64()
        break
      case 3 << 3:
        modRevision = r.int64()
        break
      case 4 << 3:
        version = r.int64()
        break
      case (5 << 3) | 2:
        value = r.text()
        break
      case 6 << 3:
        lease = r.int64()
        break
      default:
        r.skip(tag & 7)
    }
  }
  return {key, value, modRevision, createRevision, version, lease: lease.toString()}
}
