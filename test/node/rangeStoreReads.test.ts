import {join} from 'node:path'
import Database from 'better-sqlite3'
import {describe, expect, it} from 'vitest'
import {HASH_SPACE} from '../../src/model/hash.js'
import {type HashRange} from '../../src/model/range.js'
import {DigestCells} from '../../src/node/digestCells.js'
import {DB_FILE, LwwWriter} from '../../src/node/lwwSql.js'
import {type NodeRecord} from '../../src/node/protocol.js'
import {createRangeStoreFile} from '../../src/node/rangeStoreFiles.js'
import {decodeCursor} from '../../src/node/snapshotCursor.js'
import {type StorageEngine} from '../../src/node/storageEngine.js'
import {ALL, engineFixture, mainSql, rec, v} from './engineFixture.js'
import {expectSameReads, inside, RANGES, S1, S2, SPAN1, SPAN2} from './rangeStoreFixture.js'

const open = engineFixture('rangereads', {writerThread: false, readRangeStores: true})

const S3 = '00000000-0000-4000-8000-0000000000a3'
/** A span of the main file that a table change splits out between two pages of a copy. */
const SPAN3 = {lo: Math.floor(HASH_SPACE * 0.75) + 9, hi: Math.floor(HASH_SPACE * 0.9) + 1}

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
 * records inside each span, named in the main file's table; returns the engine opened on it and the dir.
 */
async function routed(records: readonly NodeRecord[], writerThread = false): Promise<{engine: StorageEngine; dir: string}> {
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
  mainSql(dir, (main) => main.prepare('INSERT INTO range_store (store, lo, hi) VALUES (?, ?, ?), (?, ?, ?)').run(S1, SPAN1.lo, SPAN1.hi, S2, SPAN2.lo, SPAN2.hi))
  return open({writerThread}, dir)
}

/** expectSameCopy reads the copy pages of `range` of 3000 bytes from `one` after cursor `a` and from `two` after `b` to the end, expects the same batches and cursors, and returns how many pages. */
async function expectSameCopy(one: StorageEngine, two: StorageEngine, range: HashRange, a: string | undefined, b: string | undefined): Promise<number> {
  let pages = 0
  do {
    const pa = await one.readCopyPage(range, a, 3000)
    const pb = await two.readCopyPage(range, b, 3000)
    expect(pb.batch.equals(pa.batch)).toBe(true)
    expect(pb.cursor).toEqual(pa.cursor)
    a = pa.cursor
    b = pb.cursor
    pages++
  } while (a !== undefined)
  return pages
}

/** expectSamePagesAndListings: `two`'s copy pages (paged across the stores' edges) and bucket listings equal the one-file `one`'s, batch for batch, over every range of RANGES. */
async function expectSamePagesAndListings(one: StorageEngine, two: StorageEngine): Promise<void> {
  for (const range of RANGES) {
    await expectSameCopy(one, two, range, undefined, undefined)
    const asked = [0, 3, 50, 51, 52, 100, 200, 255]
    for (const maxBytes of [undefined, 2000]) {
      const la = await one.listBuckets(range, asked, maxBytes)
      const lb = await two.listBuckets(range, asked, maxBytes)
      expect(lb.answered).toBe(la.answered)
      expect(lb.batch.equals(la.batch)).toBe(true)
    }
  }
}


describe('range store reads', () => {
  it('given records split between the main file and two range stores, when read, then every read answers as one store holding them all', async () => {
    const records = dataset()
    // The oracle: one engine, one file, every record.
    const {engine: one} = open()
    await one.apply(records)
    const {engine: two} = await routed(records)

    expectSameReads(
      one,
      two,
      records.map((r) => r.key),
      [1, 700, 5000, 1 << 20],
    )
    expect(two.get(Buffer.from('never written'))).toBeUndefined()
    // Copy pages and bucket listings: the same batches (read on this thread: no copy reader thread).
    await expectSamePagesAndListings(one, two)
    // A cursor outside the range is refused as before.
    expect(() => two.scan(SPAN1, `${SPAN2.lo}.AA`, 100)).toThrow(RangeError)
  })

  it('given range stores and the copy reader thread, when copy pages and listings are read, then the thread reads every store as one file holding them all', async () => {
    const records = dataset()
    const {engine: one} = open()
    await one.apply(records)
    const {engine: two} = await routed(records, true)
    await expectSamePagesAndListings(one, two)
    const pa = await one.readCopyPage(ALL, undefined, 1 << 24)
    const pb = await two.readCopyPage(ALL, undefined, 1 << 24)
    expect(pb.records).toBe(records.length)
    expect(pb.batch.equals(pa.batch)).toBe(true)
  })

  it('given a copy read by the copy reader thread, when the range_store table changes between two pages (a store removed, one added), then later pages follow the new table and never read a store that no longer serves', async () => {
    const records = dataset()
    const {engine: one} = open()
    await one.apply(records)
    const {engine: two, dir} = await routed(records, true)
    const first = await two.readCopyPage(ALL, undefined, 3000)
    const oracleFirst = await one.readCopyPage(ALL, undefined, 3000)
    expect(first.batch.equals(oracleFirst.batch)).toBe(true)
    expect(decodeCursor(first.cursor!).hash).toBeLessThan(SPAN1.lo)

    // A merge-back of S2: its rows into the main file, then one main-file transaction deleting its row.
    const mainFile = join(dir, DB_FILE)
    writeStore(mainFile, records.filter(inside(SPAN2)))
    mainSql(dir, (db) => db.prepare('DELETE FROM range_store WHERE store = ?').run(S2))
    // S2 no longer serves: anything it holds now must never be read.
    const inS2 = records.find(inside(SPAN2))!
    writeStore(join(dir, 'ranges', `${S2}.sqlite`), [{key: inS2.key, version: v(888_888), value: Buffer.from('poison in a removed store')}])
    // A split-out of SPAN3 from the main file into S3, its row recorded; the main file's copy of the span is stale from now on.
    createRangeStoreFile(dir, S3, SPAN3, two.dataDirId(), {pageSize: 4096, synchronous: 'NORMAL'}).close()
    writeStore(join(dir, 'ranges', `${S3}.sqlite`), records.filter(inside(SPAN3)))
    mainSql(dir, (db) => db.prepare('INSERT INTO range_store (store, lo, hi) VALUES (?, ?, ?)').run(S3, SPAN3.lo, SPAN3.hi))
    const inS3 = records.find(inside(SPAN3))!
    writeStore(mainFile, [{key: inS3.key, version: v(777_777), value: Buffer.from('poison left in the main file')}])

    expect(await expectSameCopy(one, two, ALL, oracleFirst.cursor, first.cursor)).toBeGreaterThan(5)
    const asked = [0, 3, 50, 51, 52, 100, 200, 255]
    for (const range of [ALL, SPAN2, SPAN3]) expect((await two.listBuckets(range, asked)).batch.equals((await one.listBuckets(range, asked)).batch)).toBe(true)
  })
})
