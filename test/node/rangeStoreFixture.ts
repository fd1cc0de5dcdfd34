import {join} from 'node:path'
import Database from 'better-sqlite3'
import {expect} from 'vitest'
import {HASH_SPACE, keyHash} from '../../src/model/hash.js'
import {FINE_WIDTH} from '../../src/node/digestLayout.js'
import {ALL, type OpenEngine} from './engineFixture.js'
import {type HashRange} from '../../src/model/range.js'
import {DB_FILE} from '../../src/node/lwwSql.js'
import {createRangeStoreFile, rangeStorePath} from '../../src/node/rangeStoreFiles.js'
import {type NodeRecord} from '../../src/node/protocol.js'
import {type StorageEngine} from '../../src/node/storageEngine.js'

/** S1 and S2 are the two range stores of a split test dir. */
export const S1 = '00000000-0000-4000-8000-0000000000a1'
export const S2 = '00000000-0000-4000-8000-0000000000a2'
/** SPAN1 and SPAN2: two adjacent spans, neither on a fine cell boundary, so every read and write meets slivers at their edges. */
export const SPAN1 = {lo: Math.floor(HASH_SPACE * 0.2) + 17, hi: Math.floor(HASH_SPACE * 0.45) + 5}
export const SPAN2 = {lo: Math.floor(HASH_SPACE * 0.45) + 5, hi: Math.floor(HASH_SPACE * 0.7) - 3}
/** SPANS pairs each store with its span. */
export const SPANS = [
  [S1, SPAN1],
  [S2, SPAN2],
] as const

/** inside tells whether a record's hash lies in `r`. */
export const inside = (r: HashRange) => (x: NodeRecord) => keyHash(x.key) >= r.lo && keyHash(x.key) < r.hi

/**
 * addRangeStores makes the files of S1 and S2 (empty) in the closed data dir `dir` and names
 * them in its main file's range_store table, so the next open serves SPAN1 and SPAN2 from them
 * (or the spans `spans` gives S1 and S2).
 */
export function addRangeStores(dir: string, dataDirId: string, spans: readonly (readonly [string, HashRange])[] = SPANS): void {
  for (const [store, span] of spans) createRangeStoreFile(dir, store, span, dataDirId, {pageSize: 4096, synchronous: 'NORMAL'}).close()
  const main = new Database(join(dir, DB_FILE))
  try {
    const insert = main.prepare('INSERT INTO range_store (store, lo, hi) VALUES (?, ?, ?)')
    for (const [store, span] of spans) insert.run(store, span.lo, span.hi)
  } finally {
    main.close()
  }
}

/** splitDir opens, with `open`, an engine on a fresh dir split over the main file and the empty range stores S1 and S2 (`open`'s defaults must read range stores). */
export async function splitDir(open: OpenEngine, writerThread = false): Promise<{engine: StorageEngine; dir: string}> {
  const {engine: made, dir} = open()
  const id = made.dataDirId()
  await made.close()
  addRangeStores(dir, id)
  return open({writerThread}, dir)
}

/** expectRowsWhereServed expects every row of a dir split by {@link addRangeStores} to lie in the file serving its hash. */
export function expectRowsWhereServed(dir: string): void {
  const outside = (h: number) => !(h >= SPAN1.lo && h < SPAN1.hi) && !(h >= SPAN2.lo && h < SPAN2.hi)
  expect(storeHashes(dir, undefined).filter((h) => !outside(h))).toEqual([])
  expect(storeHashes(dir, S1).filter((h) => h < SPAN1.lo || h >= SPAN1.hi)).toEqual([])
  expect(storeHashes(dir, S2).filter((h) => h < SPAN2.lo || h >= SPAN2.hi)).toEqual([])
}

/** storeHashes lists the hashes of the rows the file of store `store` (undefined: the main file) holds, read with a connection of its own. */
export function storeHashes(dir: string, store: string | undefined): number[] {
  const db = new Database(store === undefined ? join(dir, DB_FILE) : rangeStorePath(dir, store), {readonly: true})
  try {
    return db.prepare<[], number>('SELECT h FROM kv').pluck().all()
  } finally {
    db.close()
  }
}

/** storeMeta is meta `name` in the file of store `store` (undefined: the main file), or undefined. */
export function storeMeta(dir: string, store: string | undefined, name: string): string | undefined {
  const db = new Database(store === undefined ? join(dir, DB_FILE) : rangeStorePath(dir, store), {readonly: true})
  try {
    return db.prepare<[string], string>('SELECT value FROM meta WHERE name = ?').pluck().get(name)
  } finally {
    db.close()
  }
}

/** keysIn returns `n` keys `${prefix}<i>` whose hash lies in `range`. */
export function keysIn(range: HashRange, n: number, prefix = 'k'): string[] {
  const out: string[] = []
  for (let i = 0; out.length < n; i++) {
    const h = keyHash(Buffer.from(`${prefix}${i}`))
    if (h >= range.lo && h < range.hi) out.push(`${prefix}${i}`)
  }
  return out
}

/** RANGES: the whole space, each span, ranges crossing one or both span edges, unaligned and aligned, one inside a span. */
export const RANGES: HashRange[] = [
  ALL,
  SPAN1,
  SPAN2,
  {lo: SPAN1.lo - 12_345_678, hi: SPAN1.lo + 9_876_543},
  {lo: SPAN1.lo + 1000, hi: SPAN2.hi + 1000},
  {lo: FINE_WIDTH * 10_000, hi: FINE_WIDTH * 50_000},
  {lo: SPAN2.lo + 77, hi: SPAN2.lo + 200_000_000},
]

/**
 * expectSameReads expects every read of `two` (a split dir) to answer as the one-file twin
 * `one`: each of `keys`, totals, tombstone count, and per range of `ranges` (RANGES unless
 * given) the digests (with and without a tombstone cutoff, at both formats), old values'
 * digest, totals, and scans paged at each of `scanBytes` with the same records and cursors.
 */
export function expectSameReads(one: StorageEngine, two: StorageEngine, keys: readonly Buffer[], scanBytes: readonly number[], ranges: readonly HashRange[] = RANGES): void {
  for (const k of keys) expect(two.get(k)).toEqual(one.get(k))
  expect(two.totals()).toEqual(one.totals())
  expect(two.tombstoneCount()).toBe(one.tombstoneCount())
  for (const range of ranges) {
    expect(two.digest(range)).toEqual(one.digest(range))
    expect(two.digest(range, 1300)).toEqual(one.digest(range, 1300))
    expect(two.digest(range, undefined, 2)).toEqual(one.digest(range, undefined, 2))
    expect(two.digest(range, 1300, 2)).toEqual(one.digest(range, 1300, 2))
    expect(two.oldValuesDigest(range, 1400)).toEqual(one.oldValuesDigest(range, 1400))
    expect(two.rangeTotals(range)).toEqual(one.rangeTotals(range))
    expect(two.ackedRangeTotalsMany([range])).toEqual(one.ackedRangeTotalsMany([range]))
    // Scans page across the stores' edges with the same records and cursors as one file.
    for (const maxBytes of scanBytes) {
      let a: string | undefined
      let b: string | undefined
      do {
        const pa = one.scan(range, a, maxBytes)
        const pb = two.scan(range, b, maxBytes)
        expect(pb.records).toEqual(pa.records)
        expect(pb.cursor).toEqual(pa.cursor)
        a = pa.cursor
        b = pb.cursor
      } while (a !== undefined)
    }
  }
}

/** expectSameKeyReads is {@link expectSameReads} of `keys` given as strings, scans paged at 3000 bytes. */
export function expectSameKeyReads(one: StorageEngine, two: StorageEngine, keys: readonly string[]): void {
  expectSameReads(
    one,
    two,
    keys.map((k) => Buffer.from(k)),
    [3000],
  )
}

/**
 * expectSplitEndsLikeTwin closes a seeded run on the split dir `dir` served by `two`: every read
 * of `keys` equals the one-file twin `one`, every row lies in the file serving it, both range
 * stores hold rows (the run reached them), and the same reads hold after `two` is closed and the
 * dir reopened with `open` (each store's cells were committed with its rows). Returns the
 * reopened engine for checks of the caller's own.
 */
export async function expectSplitEndsLikeTwin(open: OpenEngine, one: StorageEngine, two: StorageEngine, dir: string, keys: readonly string[]): Promise<StorageEngine> {
  expectSameKeyReads(one, two, keys)
  expectRowsWhereServed(dir)
  expect(storeHashes(dir, S1).length).toBeGreaterThan(0)
  expect(storeHashes(dir, S2).length).toBeGreaterThan(0)
  await two.close()
  const again = open({}, dir).engine
  expectSameKeyReads(one, again, keys)
  return again
}
