import {createRequire} from 'node:module'
import fc from 'fast-check'
import {describe, expect, it} from 'vitest'
import {decodeRangeResponse, encodeRangeRequest, WireError} from '../../src/etcd/rangeWire.js'

// etcd3's own proto files and protobufjs (its decoder): the reference the hand decoder must match.
const require = createRequire(import.meta.url)
const protobuf = require('protobufjs') as typeof import('protobufjs')
const root = new protobuf.Root()
root.resolvePath = (_origin, target) => require.resolve(`etcd3/proto/${target.split('/').at(-1)}`)
root.loadSync('rpc.proto', {keepCase: true})
const RangeResponse = root.lookupType('etcdserverpb.RangeResponse')
const RangeRequest = root.lookupType('etcdserverpb.RangeRequest')

const int64 = fc.bigInt({min: 0n, max: 2n ** 63n - 1n})
const kv = fc.record({key: fc.string({minLength: 1, maxLength: 40, unit: 'grapheme'}), value: fc.string({maxLength: 200, unit: 'grapheme'}), create: int64, mod: int64, version: int64, lease: int64})
type Kv = {key: string; value: string; create: bigint; mod: bigint; version: bigint; lease: bigint}

function encodeResponse(kvs: Kv[], more: boolean, revision: bigint): Buffer {
  const msg = RangeResponse.fromObject({
    header: {cluster_id: '12345678901234567', member_id: '9', revision: revision.toString(), raft_term: '4'},
    kvs: kvs.map((k) => ({key: Buffer.from(k.key), value: Buffer.from(k.value), create_revision: k.create.toString(), mod_revision: k.mod.toString(), version: k.version.toString(), lease: k.lease.toString()})),
    more,
    count: String(kvs.length),
  })
  return Buffer.from(RangeResponse.encode(msg).finish())
}

/** reference is what etcd3's decode plus the store's toStored make of the same bytes. */
function reference(buf: Buffer) {
  const o = RangeResponse.toObject(RangeResponse.decode(buf), {longs: String, defaults: true}) as {header: {revision: string}; more: boolean; kvs: {key: Buffer; value: Buffer; create_revision: string; mod_revision: string; version: string; lease: string}[]}
  return {
    kvs: o.kvs.map((k) => ({key: k.key.toString(), value: k.value.toString(), modRevision: BigInt(k.mod_revision), createRevision: BigInt(k.create_revision), version: BigInt(k.version), lease: String(k.lease)})),
    more: o.more,
    revision: BigInt(o.header.revision),
  }
}

describe('decodeRangeResponse', () => {
  it('Given any response protobufjs encodes, Then it decodes to what etcd3 and toStored make of it', () => {
    fc.assert(
      fc.property(fc.array(kv, {maxLength: 8}), fc.boolean(), int64, (kvs, more, revision) => {
        const buf = encodeResponse(kvs, more, revision)
        expect(decodeRangeResponse(buf)).toEqual(reference(buf))
      }),
      {numRuns: 300},
    )
  })

  it('Given fields it does not know (a newer etcd), Then it skips them', () => {
    const buf = encodeResponse([{key: 'k', value: 'v', create: 1n, mod: 2n, version: 1n, lease: 0n}], false, 7n)
    // field 15, varint; field 14, length-delimited; field 13, fixed64; field 12, fixed32
    const extra = Buffer.from([15 << 3, 0x96, 0x01, (14 << 3) | 2, 2, 0xaa, 0xbb, (13 << 3) | 1, 1, 2, 3, 4, 5, 6, 7, 8, (12 << 3) | 5, 1, 2, 3, 4])
    expect(decodeRangeResponse(Buffer.concat([extra, buf, extra]))).toEqual(reference(buf))
  })

  it('Given tags and lengths written as long varints (7 to 10 bytes, non-minimal), Then it reads them as their one-byte form', () => {
    // v < 128 in n bytes: n - 1 bytes with the continuation bit, the last one holding v's high bits (none).
    const varint = (v: number, n: number) => (n === 1 ? [v] : [(v & 0x7f) | 0x80, ...Array.from({length: n - 2}, () => 0x80), 0])
    const key = Buffer.from('shards/00000001')
    const value = Buffer.from('{"id":1}')
    const response = (n: number) => {
      const kvBody = Buffer.from([...varint((1 << 3) | 2, n), ...varint(key.length, n), ...key, 3 << 3, 5, ...varint((5 << 3) | 2, n), ...varint(value.length, n), ...value])
      return Buffer.from([...varint((2 << 3) | 2, n), ...varint(kvBody.length, n), ...kvBody, ...varint(3 << 3, n), 1])
    }
    const minimal = decodeRangeResponse(response(1))
    expect(minimal).toMatchObject({more: true, kvs: [{key: 'shards/00000001', value: '{"id":1}', modRevision: 5n}]})
    for (const n of [7, 8, 10]) expect(decodeRangeResponse(response(n))).toEqual(minimal)
    // 11 bytes is no varint.
    expect(() => decodeRangeResponse(response(11))).toThrow(WireError)
  })

  it('Given truncated or malformed bytes, Then it throws WireError instead of returning a partial page', () => {
    const buf = encodeResponse([{key: 'shards/1', value: '{"id":1}', create: 1n, mod: 2n, version: 1n, lease: 0n}, {key: 'shards/2', value: '{"id":2}', create: 3n, mod: 4n, version: 1n, lease: 5n}], true, 9n)
    for (let cut = 1; cut < buf.length; cut++) {
      let threw = false
      try {
        decodeRangeResponse(buf.subarray(0, cut))
      } catch (err) {
        threw = err instanceof WireError
      }
      // A cut exactly between two top-level fields is a well-formed shorter message; any other cut must throw.
      if (!threw) expect(topLevelBoundaries(buf)).toContain(cut)
    }
    expect(() => decodeRangeResponse(Buffer.from([(2 << 3) | 3]))).toThrow(WireError) // wire type 3 (groups) is not used by etcd
    expect(() => decodeRangeResponse(Buffer.from([0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]))).toThrow(WireError) // an 11-byte varint
  })
})

function topLevelBoundaries(buf: Buffer): number[] {
  const reader = protobuf.Reader.create(buf)
  const out: number[] = []
  while (reader.pos < reader.len) {
    const tag = reader.uint32()
    reader.skipType(tag & 7)
    out.push(reader.pos)
  }
  return out
}

describe('encodeRangeRequest', () => {
  it('Given any query, Then protobufjs reads back the same key, range end, limit and revision', () => {
    fc.assert(
      fc.property(fc.string({minLength: 1, maxLength: 40, unit: 'grapheme'}), fc.string({maxLength: 40, unit: 'grapheme'}), fc.integer({min: 0, max: 1_000_000}), fc.option(fc.bigInt({min: 1n, max: 2n ** 62n}), {nil: undefined}), (key, rangeEnd, limit, revision) => {
        const o = RangeRequest.toObject(RangeRequest.decode(encodeRangeRequest({key, rangeEnd, limit, revision})), {longs: String, defaults: true}) as {key: Buffer; range_end: Buffer; limit: string; revision: string}
        expect(o.key.toString()).toBe(key)
        expect(o.range_end.toString()).toBe(rangeEnd)
        expect(o.limit).toBe(String(limit))
        expect(o.revision).toBe(String(revision ?? 0n))
      }),
      {numRuns: 300},
    )
  })
})
