import fc from 'fast-check'
import {describe, expect, it} from 'vitest'
import {type NodeRecord} from '../../src/node/protocol.js'
import {decodeRecords, encodeRecords, RecordCodecError} from '../../src/node/recordCodec.js'
import {decodeCursor, encodeCursor} from '../../src/node/snapshotCursor.js'

const recordArb: fc.Arbitrary<NodeRecord> = fc.record({
  key: fc.uint8Array({maxLength: 40}).map((a) => Buffer.from(a)),
  version: fc.stringMatching(/^[0-9]{15}\.[0-9]{6}\.[a-z]{1,8}$/),
  value: fc.option(fc.uint8Array({maxLength: 200}).map((a) => Buffer.from(a)), {nil: null}),
})

describe('record batch codec', {timeout: 30_000}, () => {
  it('given any records, when encoded and decoded, then they round-trip byte for byte', () => {
    fc.assert(
      fc.property(fc.array(recordArb, {maxLength: 20}), (records) => {
        const back = decodeRecords(encodeRecords(records))
        expect(back.length).toBe(records.length)
        back.forEach((r, i) => {
          expect(Buffer.compare(r.key, records[i]!.key)).toBe(0)
          expect(r.version).toBe(records[i]!.version)
          if (records[i]!.value === null) expect(r.value).toBeNull()
          else expect(Buffer.compare(r.value!, records[i]!.value!)).toBe(0)
        })
      }),
    )
  })

  it('given records with values on both sides of the native-copy threshold, when encoded into a shared slab, then the bytes are those of a plain buffer and nothing past the batch is written', () => {
    // Values as views at odd offsets of a larger buffer (as decoded from a batch), keys of every small length so values start at every alignment.
    const valueArb = fc.oneof(fc.integer({min: 0, max: 300}), fc.integer({min: 60_000, max: 70_000})).chain((n) =>
      fc.integer({min: 0, max: 7}).map((skew) => {
        const under = Buffer.allocUnsafe(n + skew)
        for (let i = 0; i < under.length; i++) under[i] = (i * 131 + n) & 0xff
        return under.subarray(skew)
      }),
    )
    const bigRecordArb: fc.Arbitrary<NodeRecord> = fc.record({
      key: fc.uint8Array({minLength: 1, maxLength: 13}).map((a) => Buffer.from(a)),
      version: fc.stringMatching(/^[0-9]{15}\.[0-9]{6}\.[a-z]{1,8}$/),
      value: fc.option(valueArb, {nil: null, freq: 5}),
    })
    fc.assert(
      fc.property(fc.array(bigRecordArb, {minLength: 1, maxLength: 6}), (records) => {
        const plain = encodeRecords(records)
        const slab = new SharedArrayBuffer(plain.length + 64)
        new Uint8Array(slab).fill(0xee)
        const shared = encodeRecords(records, (size) => Buffer.from(slab, 0, size))
        expect(shared.buffer).toBe(slab)
        expect(Buffer.compare(shared, plain)).toBe(0)
        expect([...new Uint8Array(slab, plain.length)].every((b) => b === 0xee)).toBe(true)
      }),
      {numRuns: 60},
    )
  })

  it('given a truncated or padded batch, when decoded, then it is refused', () => {
    const buf = encodeRecords([{key: Buffer.from('a'), version: '000000000000001.000000.w', value: Buffer.from('xyz')}])
    for (let cut = 0; cut < buf.length; cut++) expect(() => decodeRecords(buf.subarray(0, cut))).toThrow(RecordCodecError)
    expect(() => decodeRecords(Buffer.concat([buf, Buffer.from([0])]))).toThrow(RecordCodecError)
    const huge = Buffer.alloc(4)
    huge.writeUInt32LE(0xffffffff, 0)
    expect(() => decodeRecords(huge)).toThrow(RecordCodecError)
  })

  it('given a cursor, when decoded, then hash and key come back; garbage is refused', () => {
    const c = encodeCursor(123456, Buffer.from([0, 255, 7]))
    expect(decodeCursor(c)).toEqual({hash: 123456, key: Buffer.from([0, 255, 7])})
    expect(() => decodeCursor('x')).toThrow(RangeError)
    expect(() => decodeCursor('99999999999.AA')).toThrow(RangeError)
  })
})
