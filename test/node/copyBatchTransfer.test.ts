import fc from 'fast-check'
import {describe, expect, it, vi} from 'vitest'
import {keyHash} from '../../src/model/hash.js'
import {encodeFrame, FrameReader} from '../../src/node/copyFrames.js'
import {sliceEncoding, sliceRecords} from '../../src/node/copyPuller.js'
import {FINE_WIDTH, fineOf} from '../../src/node/digestLayout.js'
import {type NodeRecord} from '../../src/node/protocol.js'
import {decodeRecords, encodeRecords, RECORD_BATCH_HEADER} from '../../src/node/recordCodec.js'
import {StorageWriter} from '../../src/node/storageWriter.js'
import {allocTransferable, transferableCopyOf} from '../../src/node/transferableBatch.js'
import {ALL, engineFixture, rec, v} from './engineFixture.js'

const open = engineFixture('transfer', {})

const recordArb = fc.record({
  key: fc.uint8Array({minLength: 1, maxLength: 40}).map((b) => Buffer.from(b)),
  version: fc.nat({max: 1e12}).map((w) => v(w)),
  value: fc.option(fc.uint8Array({maxLength: 3000}).map((b) => Buffer.from(b)), {nil: null}),
})

describe('copy batches handed to the writer thread', {timeout: 30_000}, () => {
  it('given a frame cut into slices, when each slice is cut from the frame bytes, then its encoding is exactly encodeRecords of the slice and the cuts end at the frame end', () => {
    fc.assert(
      fc.property(fc.array(recordArb, {maxLength: 40}), fc.integer({min: 1, max: 9000}), (records: NodeRecord[], sliceBytes) => {
        const batch = encodeRecords(records)
        const decoded = decodeRecords(batch)
        let at = RECORD_BATCH_HEADER
        for (const slice of sliceRecords(decoded, sliceBytes)) {
          const cut = sliceEncoding(batch, at, slice)
          expect(cut.equals(encodeRecords(slice))).toBe(true)
          expect(decodeRecords(cut)).toEqual(slice)
          at += cut.length - RECORD_BATCH_HEADER
        }
        expect(at).toBe(batch.length)
      }),
      {numRuns: 200},
    )
  })

  it('given buffers it did not allocate for handing over, when made transferable, then they are copied and only its own whole buffers pass as they are', () => {
    const own = allocTransferable(8192)
    expect(transferableCopyOf(own)).toBe(own)
    // A view into a handed-over buffer, a pooled small Buffer and a plain large one are copied: transferring them would detach bytes others hold.
    for (const other of [own.subarray(4), Buffer.from('pooled'), Buffer.alloc(8192, 7)]) {
      const copy = transferableCopyOf(other)
      expect(copy).not.toBe(other)
      expect(copy.buffer).not.toBe(other.buffer)
      expect(copy.equals(other)).toBe(true)
      expect(transferableCopyOf(copy)).toBe(copy)
    }
  })

  it('given a copy batch handed over, when it is in flight in the writer thread, then it was moved (not copied), the cells in flight come from its records, and the rows and digest are exact', async () => {
    const {engine, dir} = open()
    const reference = open({writerThread: false}).engine
    await engine.close()
    const records = Array.from({length: 64}, (_, i) => rec(`moved-${i}`, v(10 + i), i % 9 === 0 ? null : `value-${i}`.repeat(200)))
    const writer = new StorageWriter({file: `${dir}/shardctl-node.sqlite`, synchronous: 'NORMAL', pageSize: 16384, maxTxnBytes: 1 << 20, committed: () => {}})
    try {
      const batch = encodeRecords(records, allocTransferable)
      const done = writer.run({op: 'copy', batch, name: 'copy/1', state: '{}', durable: false}, 'copy', records.length, {transfer: [batch.buffer as ArrayBuffer], keys: records})
      await new Promise((r) => setImmediate(r))
      // Posted by transfer: detached here. Reading the cells in flight must not touch it.
      expect(batch.length).toBe(0)
      expect([...writer.inFlightCells()].sort((a, b) => a - b)).toEqual([...new Set(records.map((r) => fineOf(keyHash(r.key))))].sort((a, b) => a - b))
      expect(await done).toMatchObject({applied: records.length})
    } finally {
      await writer.close()
    }
    const reopened = open({}, dir).engine
    await reference.apply(records)
    expect(reopened.digest(ALL)).toEqual(reference.digest(ALL))
    for (const r of records) expect(reopened.get(r.key)).toEqual(r)
  })

  it("given gc floors adopted from a copy's source with their deletion, when in flight in the writer thread, then the cells in flight cover each floor's range (a digest read meanwhile recomputes them), and a floors write without deletion names none", async () => {
    const {engine, dir} = open()
    await engine.close()
    const writer = new StorageWriter({file: `${dir}/shardctl-node.sqlite`, synchronous: 'NORMAL', pageSize: 16384, maxTxnBytes: 1 << 20, committed: () => {}})
    try {
      const floor = {lo: 3 * FINE_WIDTH + 5, hi: 5 * FINE_WIDTH + 1, floor: 100}
      const plain = writer.run({op: 'floors', floors: [floor]})
      await new Promise((r) => setImmediate(r))
      expect([...writer.inFlightCells()]).toEqual([])
      await plain
      const dropping = writer.run({op: 'floors', floors: [floor], dropValuesBelow: [floor]})
      await new Promise((r) => setImmediate(r))
      expect([...writer.inFlightCells()].sort((a, b) => a - b)).toEqual([3, 4, 5])
      expect(await dropping).toBe(0)
    } finally {
      await writer.close()
    }
  })

  it('given applyCopyBatch with an encoding the caller keeps, when committed, then the caller still reads its buffer and its pooled neighbours unchanged', async () => {
    const {engine} = open()
    const records = [rec('kept-a', v(5), 'a'), rec('kept-b', v(6), null)]
    const encoded = encodeRecords(records) // small: a slice of Buffer's shared pool
    const neighbour = Buffer.from('neighbour')
    const before = Buffer.from(encoded)
    await engine.applyCopyBatch(records, 'copy/2', '{}', encoded, false)
    expect(encoded.equals(before)).toBe(true)
    expect(neighbour.toString()).toBe('neighbour')
    for (const r of records) expect(engine.get(r.key)).toEqual(r)
    // A handed-over encoding is moved: the engine does not copy it first.
    const handed = encodeRecords([rec('handed', v(7), 'h')], allocTransferable)
    await engine.applyCopyBatch([rec('handed', v(7), 'h')], 'copy/2', '{}', handed, false)
    expect(handed.length).toBe(0)
    expect(engine.get(Buffer.from('handed'))?.value?.toString()).toBe('h')
  })

  it('given records of any sizes, when cut into slices, then the slices are the records in order, each ends with the record that brings it to the bound, and none reaches it earlier', () => {
    fc.assert(
      fc.property(fc.array(recordArb, {maxLength: 60}), fc.integer({min: 1, max: 9000}), (records: NodeRecord[], sliceBytes) => {
        const slices = sliceRecords(records, sliceBytes)
        expect(slices.flat()).toEqual(records)
        const size = (r: NodeRecord) => r.key.length + (r.value?.length ?? 0)
        slices.forEach((slice, i) => {
          const sizes = slice.map(size)
          const total = sizes.reduce((a, b) => a + b, 0)
          if (i < slices.length - 1) expect(total).toBeGreaterThanOrEqual(sliceBytes)
          // Without its last record, no slice reaches the bound: it was not cut late.
          expect(total - (sizes.at(-1) ?? 0)).toBeLessThan(sliceBytes)
        })
      }),
      {numRuns: 300},
    )
  })

  it('given a source page read at the slice size, when the destination slices it, then it is one slice (so a frame asked for at the slice size is handed over whole)', async () => {
    const {engine} = open()
    const records = Array.from({length: 400}, (_, i) => rec(`page-${i}`, v(100 + i), i % 11 === 0 ? null : 'v'.repeat((i * 7919) % 5000)))
    await engine.apply(records)
    for (const sliceBytes of [1, 700, 4096, 65_536, 300_000]) {
      let cursor: string | undefined
      let pages = 0
      do {
        const page = await engine.readCopyPage(ALL, cursor, sliceBytes)
        expect(sliceRecords(decodeRecords(page.batch), sliceBytes)).toHaveLength(1)
        cursor = page.cursor
        pages++
      } while (cursor !== undefined && pages < 1000)
      expect(cursor).toBeUndefined()
    }
  })

  it('given a received frame handed to the engine whole, when its batch is moved to the writer thread, then the writer is given copies of the keys (the records view the moved batch) and the rows and digest are exact', async () => {
    const {engine} = open()
    const reference = open({writerThread: false}).engine
    const records = Array.from({length: 48}, (_, i) => rec(`whole-${i}`, v(50 + i), i % 7 === 0 ? null : `value-${i}`.repeat(300)))
    const wire = Buffer.concat([encodeFrame(encodeRecords(records), 'c', false)])
    const reader = new FrameReader()
    // Pushed in small pieces, as a socket delivers them: the frame's batch is assembled in a buffer of its own.
    const frames = [0, 1, 2, 3].flatMap((i) => reader.push(wire.subarray((i * wire.length) >> 2, ((i + 1) * wire.length) >> 2)))
    expect(frames).toHaveLength(1)
    const batch = frames[0]!.batch
    expect(transferableCopyOf(batch)).toBe(batch)
    const decoded = decodeRecords(batch)
    const writer = (engine as unknown as {writer: StorageWriter}).writer
    const run = vi.spyOn(writer, 'run')
    const done = engine.applyCopyBatch(decoded, 'copy/3', '{}', batch, false)
    await new Promise((r) => setImmediate(r))
    expect(batch.length).toBe(0)
    const keys = run.mock.calls[0]?.[3]?.keys ?? []
    expect(keys.map((r) => Buffer.from(r.key).toString())).toEqual(records.map((r) => r.key.toString()))
    expect([...writer.inFlightCells()].sort((a, b) => a - b)).toEqual([...new Set(records.map((r) => fineOf(keyHash(r.key))))].sort((a, b) => a - b))
    expect(await done).toMatchObject({applied: records.length})
    await reference.apply(records)
    expect(engine.digest(ALL)).toEqual(reference.digest(ALL))
    for (const r of records) expect(engine.get(r.key)).toEqual(r)
  })
})
