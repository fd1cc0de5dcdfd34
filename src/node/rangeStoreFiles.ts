import {closeSync, existsSync, fsyncSync, openSync, readdirSync, unlinkSync} from 'node:fs'
import {join} from 'node:path'
import type Database from 'better-sqlite3'
import {makeDirectories} from '../fs/makeDirectories.js'
import {type HashRange} from '../model/range.js'
import {openConnection} from './lwwSql.js'
import {RECORD_HASH_FORMAT} from './recordHash.js'
import {SpanTable, type StoreSpan} from './spanTable.js'
import {STORE_SCHEMA_SQL} from './storeSchema.js'

/** RANGES_DIR is the folder of a data dir that holds its range store files (`<id>.sqlite`, with their `-wal` and `-shm`). */
export const RANGES_DIR = 'ranges'

/** SPAN_META and DIR_META: a range store's meta rows naming the span it was made for and the data dir it belongs to. */
const SPAN_META = 'span'
const DIR_META = 'dataDir'

/** STORE_FILE matches a range store's files: its database, WAL, shared-memory index or rollback journal; group 1 is its id. */
const STORE_FILE = /^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\.sqlite(?:-wal|-shm|-journal)?$/

/** RangeStoreError: the data dir's range stores do not agree with the main file's table (a file missing or not the one recorded); nothing was changed. */
export class RangeStoreError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'RangeStoreError'
  }
}

/** rangeStorePath is the database file of range store `store` in data dir `dataDir`. */
export function rangeStorePath(dataDir: string, store: string): string {
  return join(dataDir, RANGES_DIR, `${store}.sqlite`)
}

/**
 * readSpanTable reads the main file's range_store table (see MAIN_SCHEMA_SQL). Throws
 * RangeStoreError naming the data dir when the rows are not a valid table (overlapping
 * spans, a bad id: a file edited by hand), since serving a hash from two stores, or from
 * none, would lose or hide acknowledged writes.
 */
export function readSpanTable(main: Database.Database, dataDir: string): SpanTable {
  const rows = main.prepare<[], StoreSpan>('SELECT store, lo, hi FROM range_store').all()
  try {
    return SpanTable.from(rows)
  } catch (err) {
    throw new RangeStoreError(`data dir ${dataDir}: its range_store table is not valid (${(err as Error).message}); it was changed by hand: restore the data dir from a copy`)
  }
}

/**
 * createRangeStoreFile creates range store `store`'s file for `span` (the folder too) with
 * the stores' schema, the pragmas every connection of the node uses (WAL, `synchronous`,
 * `pageSize` for a new file), and meta rows naming its span, the data dir's id and the digest
 * format, then fsyncs the folder so the file's name outlives a power loss; returns the open
 * connection (the caller fills the file and closes it). Nothing records the file yet: until
 * the main file's table names it, it is an orphan that {@link sweepOrphanRangeStores} deletes
 * at the next open. Throws when the file exists already (ids are random: a second use is a bug).
 */
export function createRangeStoreFile(dataDir: string, store: string, span: HashRange, dataDirId: string, opts: {pageSize: number; synchronous: 'FULL' | 'NORMAL'}): Database.Database {
  const folder = join(dataDir, RANGES_DIR)
  makeDirectories(folder)
  const file = rangeStorePath(dataDir, store)
  if (existsSync(file)) throw new Error(`range store file ${file} exists already`)
  const db = openConnection(file, opts.synchronous, opts.pageSize)
  try {
    db.exec(STORE_SCHEMA_SQL)
    const put = db.prepare('INSERT INTO meta (name, value) VALUES (?, ?)')
    db.transaction(() => {
      put.run(SPAN_META, `${span.lo} ${span.hi}`)
      put.run(DIR_META, dataDirId)
      put.run('format', String(RECORD_HASH_FORMAT))
    })()
    syncFolder(folder)
    syncFolder(dataDir)
    return db
  } catch (err) {
    db.close()
    throw err
  }
}

/**
 * requireRangeStoreFiles throws RangeStoreError when a store `table` names has no database
 * file: its rows are gone, and serving its span from no store would read back nothing for
 * acknowledged writes. (Opening a missing file with SQLite would create an empty one.)
 */
export function requireRangeStoreFiles(dataDir: string, table: SpanTable): void {
  for (const s of table.spans()) {
    if (!existsSync(rangeStorePath(dataDir, s.store))) throw new RangeStoreError(`data dir ${dataDir}: range store ${s.store} serving hashes [${s.lo}, ${s.hi}) has no file ${join(RANGES_DIR, `${s.store}.sqlite`)}: its records are lost; restore the data dir from a copy, or start on an empty dir and let the shard's moves refill it`)
  }
}

/**
 * sweepOrphanRangeStores deletes the files in the data dir's ranges folder of every range
 * store `table` does not name (a split-out that crashed before the main file recorded it, or
 * a drop or merge that crashed after the main file forgot it), and returns their ids. A
 * file whose name is not a store's is left alone. Call it only under the data dir's lock,
 * once the stores the table names were checked (so a refused dir is left as it was).
 */
export function sweepOrphanRangeStores(dataDir: string, table: SpanTable): string[] {
  const folder = join(dataDir, RANGES_DIR)
  if (!existsSync(folder)) return []
  const removed = new Set<string>()
  for (const name of readdirSync(folder)) {
    const id = STORE_FILE.exec(name)?.[1]
    if (id === undefined || table.spanOf(id)) continue
    unlinkSync(join(folder, name))
    removed.add(id)
  }
  return [...removed]
}

/**
 * checkRangeStoreFile throws RangeStoreError unless range store `db` (opened from the file
 * the table names for `span`) was made for exactly that span in this data dir: a file copied
 * in from another dir, or one whose span the table does not match, would serve rows that are
 * not this node's of that span.
 */
export function checkRangeStoreFile(db: Database.Database, dataDir: string, span: StoreSpan, dataDirId: string): void {
  const meta = db.prepare<[string], {value: string}>('SELECT value FROM meta WHERE name = ?')
  const recorded = meta.get(SPAN_META)?.value
  if (recorded !== `${span.lo} ${span.hi}`) throw new RangeStoreError(`data dir ${dataDir}: range store ${span.store} holds span ${recorded ?? '(none)'}, but the main file names it for [${span.lo}, ${span.hi}); restore the data dir from a copy`)
  const dir = meta.get(DIR_META)?.value
  if (dir !== dataDirId) throw new RangeStoreError(`data dir ${dataDir}: range store ${span.store} belongs to data dir ${dir ?? '(none)'}, not this one (${dataDirId}); restore the data dir from a copy`)
}

/** syncFolder fsyncs a folder, so the names created or removed in it are durable. */
export function syncFolder(folder: string): void {
  const fd = openSync(folder, 'r')
  try {
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
}
