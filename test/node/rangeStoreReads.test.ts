import {join} from 'node:path'
import Database from 'better-sqlite3'
import {describe, expect, it} from 'vitest'
import {DigestCells} from '../../src/node/digestCells.js'
import {DB_FILE, LwwWriter} from '../../src/node/lwwSql.js'
import {type NodeRecord} from '../../src/node/protocol.js'
import {createRangeStoreFile} from '../../src/node/rangeStoreFiles.js'
import {type StorageEngine} from '../../src/node/storageEngine.js'
import {ALL, engineFixture, rec, v} from './engineFixture.js'
import {expectSameReads, inside, RANGES, S1, S2, SPAN1, SPAN2} from './rangeStoreFixture.js'

const open = engineFixture('rangereads', {writerThread: false, readRangeStores: true})


/** dataset: 600 records over the whole hash space, a fifth of them tombstones, versions at walls 1000..; values of both hash formats' sizes. */
function dataset(): NodeRecord[] {
  return Array.from({length: 600}, (_, i) => rec(`key-${i}`, v(1000 + i), i % 5 === 0 ? null : i % 7 === 0 ? 'x'.repeat(700) : `value-${i}`))
}

/** writeStore merges `records` into the store file at `file` with the writer every store's rows and cells go through. */
function writeStore(file: string, records: readonly NodeRecord[]): void {
  const db = new Database(file)
  try {
    const cells = new DigestCells()
    cells.load(db.prepare<[], {f: number; xhi: number; xlo: number; n: number; bytes: number}>('SELECT f, xhi, xlo, n, bytes FROM fine').all())
    new LwwWriter(db, cells).applyGroup([{records, opts: {}}])
  } finally {
    db.close()
  }
}


/**
 * routed makes a data dir whose main file holds the records outside SPAN1 and SPAN2 (plus a
 * stale record inside SPAN1 that routing must never read), and two range stores holding the
 * records inside each span, named in the main file's table; returns the engine opened on it.
 */
async function routed(records: readonly NodeRecord[], writerThread = false): Promise<StorageEngine> {
  const {engine: made, dir} = open()
  const outside = records.filter((r) => !inside(SPAN1)(r) && !inside(SPAN2)(r))
  await made.apply(outside)
  const stale = records.find(inside(SPAN1))!
  await made.apply([{key: stale.key, version: v(999_999), value: Buffer.from('stale, in the main file')}])
  const dataDirId = made.dataDirId()
  await made.close()
  for (const [store, span] of [[S1, SPAN1], [S2, SPAN2]] as const) {
    createRangeStoreFile(dir, store, span, dataDirId, {pageSize: 4096, synchronous: 'NORMAL'}).close()
    writeStore(join(dir, 'ranges', `${store}.sqlite`), records.filter(inside(span)))
  }
  const main = new Database(join(dir, DB_FILE))
  main.prepare('INSERT INTO range_store (store, lo, hi) VALUES (?, ?, ?), (?, ?, ?)').run(S1, SPAN1.lo, SPAN1.hi, S2, SPAN2.lo, SPAN2.hi)
  main.close()
  return open({writerThread}, dir).engine
}

describe('range store reads', () => {
  it('given records split between the main file and two range stores, when read, then every read answers as one store holding them all', async () => {
    const records = dataset()
    // The oracle: one engine, one file, every record.
    const {engine: one} = open()
    await one.apply(records)
    const two = await routed(records)

    expectSameReads(
      one,
      two,
      records.map((r) => r.key),
      [1, 700, 5000, 1 << 20],
    )
    expect(two.get(Buffer.from('never written'))).toBeUndefined()
    // Copy pages and bucket listings: the same batches (read on the event loop while range stores exist).
    for (const range of RANGES) {
      let a: string | undefined
      let b: string | undefined
      do {
        const pa = await one.readCopyPage(range, a, 3000)
        const pb = await two.readCopyPage(range, b, 3000)
        expect(pb.batch.equals(pa.batch)).toBe(true)
        expect(pb.cursor).toEqual(pa.cursor)
        a = pa.cursor
        b = pb.cursor
      } while (a !== undefined)
      const asked = [0, 3, 50, 51, 52, 100, 200, 255]
      for (const maxBytes of [undefined, 2000]) {
        const la = await one.listBuckets(range, asked, maxBytes)
        const lb = await two.listBuckets(range, asked, maxBytes)
        expect(lb.answered).toBe(la.answered)
        expect(lb.batch.equals(la.batch)).toBe(true)
      }
    }
    // A cursor outside the range is refused as before.
    expect(() => two.scan(SPAN1, `${SPAN2.lo}.AA`, 100)).toThrow(RangeError)
  })

  it('given range stores and the copy reader thread, when a copy page and a listing are read, then they come from every store (read on the event loop)', async () => {
    const records = dataset()
    const {engine: one} = open()
    await one.apply(records)
    const two = await routed(records, true)
    const pa = await one.readCopyPage(ALL, undefined, 1 << 24)
    const pb = await two.readCopyPage(ALL, undefined, 1 << 24)
    expect(pb.records).toBe(records.length)
    expect(pb.batch.equals(pa.batch)).toBe(true)
    const la = await one.listBuckets(SPAN1, [0, 1, 2, 3, 200, 255])
    const lb = await two.listBuckets(SPAN1, [0, 1, 2, 3, 200, 255])
    expect(lb.batch.equals(la.batch)).toBe(true)
  })
})
