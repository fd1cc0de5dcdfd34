import fc from 'fast-check'
import {describe, expect, it} from 'vitest'
import {type CopyFrame, CopyFrameError, encodeFrame, encodeFrameHead, frameBytesFor, FrameReader, MIN_FRAME_BYTES} from '../../src/node/copyFrames.js'
import {transferableCopyOf} from '../../src/node/transferableBatch.js'

describe('copy frames', () => {
  it('decode to the frames encoded, however the stream is split', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.uint8Array({maxLength: 300}), fc.option(fc.stringMatching(/^[0-9]{1,10}\.[A-Za-z0-9_-]{0,20}$/), {nil: undefined})), {maxLength: 8}),
        fc.array(fc.integer({min: 1, max: 97}), {minLength: 1, maxLength: 20}),
        (frames, cuts) => {
          const wire = Buffer.concat([...frames.map(([b, c]) => encodeFrame(Buffer.from(b), c, false)), encodeFrame(Buffer.alloc(4), undefined, true)])
          const reader = new FrameReader()
          const got: CopyFrame[] = []
          let at = 0
          for (let i = 0; at < wire.length; i++) {
            const n = cuts[i % cuts.length]!
            got.push(...reader.push(wire.subarray(at, at + n)))
            at += n
          }
          expect(got).toHaveLength(frames.length + 1)
          frames.forEach(([b, c], i) => {
            expect(Buffer.compare(got[i]!.batch, Buffer.from(b))).toBe(0)
            expect(got[i]!.cursor).toBe(c)
            expect(got[i]!.last).toBe(false)
          })
          expect(got.at(-1)!.last).toBe(true)
          expect(reader.pending()).toBe(0)
          // Each batch is a buffer of its own (handed to the writer thread as it is), not a view into the stream's chunks.
          wire.fill(0xee)
          frames.forEach(([b], i) => {
            expect(Buffer.compare(got[i]!.batch, Buffer.from(b))).toBe(0)
            if (b.length > 0) expect(transferableCopyOf(got[i]!.batch)).toBe(got[i]!.batch)
          })
        },
      ),
    )
  })

  it('refuses unknown flags, an oversize batch and bytes after the last frame', () => {
    const bad = encodeFrame(Buffer.alloc(4), 'c', false)
    bad.writeUInt8(4, 6)
    expect(() => new FrameReader().push(bad)).toThrow(CopyFrameError)
    const huge = Buffer.alloc(7)
    huge.writeUInt32LE(0xffffffff, 0)
    expect(() => new FrameReader().push(huge)).toThrow(/exceeds/)
    expect(() => new FrameReader().push(Buffer.concat([encodeFrame(Buffer.alloc(4), undefined, true), Buffer.from([1])]))).toThrow(/after the last frame/)
  })

  it('holds a partial frame until the rest arrives (a cut stream yields no half frame)', () => {
    const wire = encodeFrame(Buffer.alloc(1000, 7), '5.a', false)
    const reader = new FrameReader()
    expect(reader.push(wire.subarray(0, wire.length - 1))).toEqual([])
    expect(reader.pending()).toBe(wire.length - 1)
    expect(reader.push(wire.subarray(wire.length - 1))).toHaveLength(1)
  })
})

describe('frameBytesFor', () => {
  it('uses the cap unthrottled, about a tenth of a second of the rate under it, never below the floor', () => {
    expect(frameBytesFor(null, 4 << 20)).toBe(4 << 20)
    expect(frameBytesFor(20 << 20, 4 << 20)).toBe(2 << 20)
    expect(frameBytesFor(100 << 20, 4 << 20)).toBe(4 << 20)
    expect(frameBytesFor(1024, 4 << 20)).toBe(MIN_FRAME_BYTES)
    expect(frameBytesFor(null, 4096)).toBe(MIN_FRAME_BYTES)
  })
})

describe('encodeFrameHead', () => {
  it('followed by the batch is byte for byte the frame encodeFrame makes, for middle and last frames', () => {
    const batch = Buffer.from('some record batch bytes')
    for (const [cursor, last] of [['123.a2V5', false], [undefined, false], ['ignored', true]] as const) {
      expect(Buffer.concat([encodeFrameHead(batch.length, cursor, last), batch])).toEqual(encodeFrame(batch, cursor, last))
    }
  })

  it('refuses a cursor over 65535 bytes', () => {
    expect(() => encodeFrameHead(1, 'x'.repeat(65536), false)).toThrow(RangeError)
  })
})
