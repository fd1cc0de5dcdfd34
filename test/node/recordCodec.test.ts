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
