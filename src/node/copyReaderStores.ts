import type Database from 'better-sqlite3'
import {type CopyPageStatements, prepareCopyPageStatements} from './copyPageReader.js'
import {type CopyReaderData} from './copyReaderProtocol.js'
import {openConnection} from './lwwSql.js'
import {checkRangeStoreFile, rangeStorePath, RangeStoreError, readSpanTable} from './rangeStoreFiles.js'
import {type StorePages} from './spanScan.js'
import {SpanTable, type StoreSpan} from './spanTable.js'

/** StoreGoneError: the table read in a snapshot names a range store whose file is gone (removed since, or lost). */
class StoreGoneError extends Error {}

/** ATTEMPTS bounds the reads retried on a fresh snapshot because a store the older one named was removed meanwhile. */
const ATTEMPTS = 3

/** OpenStore is a range store connection of the copy reader thread, opened for one span. */
interface OpenStore {
  span: StoreSpan
  db: Database.Database
  pages: CopyPageStatements
}

/**
 * CopyReaderStores is the copy reader thread's view of a node's stores: a read connection to
 * the main file and one to each range store the main file's range_store table names.
 *
 * How it follows the table: {@link read} runs each read inside a read transaction on the main
 * file whose first statement reads the table, so the read routes by the table of that
 * snapshot, the truth (src/node/README.md: the table changes only in main-file transactions).
 * A split-out's commit both names the new store and deletes the span's rows from the main
 * file, so a snapshot either reads the span from the main file, where it still is, or from
 * the store, filled before that commit; a merge-back's commit is the reverse. No message from
 * the main thread is needed, and a read queued while the main thread's own table was older
 * is still routed by the current one. When the table differs from the last one read, the
 * connections of stores it no longer names are closed (never read again) and those it names
 * newly are opened and checked (checkRangeStoreFile). A store that the snapshot names but whose
 * file is gone (removed by a commit after the snapshot) fails the read, which is retried on a
 * fresh snapshot; never is a missing file read as empty (opened with fileMustExist).
 * With an empty table, the only cost over a plain read is the table's read.
 */
export class CopyReaderStores {
  /** main is the read connection to the main file (its PASSIVE checkpoints run on it too). */
  readonly main: Database.Database
  private readonly mainPages: CopyPageStatements
  private table: SpanTable = SpanTable.from([])
  private readonly opened = new Map<string, OpenStore>()
  /** pages gives the scans of the store `store` names (undefined: the main file), as the last table read routes them. */
  private readonly pages: StorePages = (store) => {
    if (store === undefined) return this.mainPages
    const s = this.opened.get(store)
    if (!s) throw new Error(`copy reader: range store ${store} is not open`)
    return s.pages
  }

  constructor(private readonly data: CopyReaderData) {
    // A reader: it never writes, so the synchronous level is moot; WAL lets it read beside the writer thread.
    this.main = openConnection(data.file, 'NORMAL', data.pageSize)
    this.mainPages = prepareCopyPageStatements(this.main)
  }

  /**
   * read runs `fn` with the span table and the stores' scans of one main-file snapshot (see
   * the class), inside that read transaction. Throws `fn`'s error, RangeStoreError for a table
   * that is not valid or a store file that is not the one recorded or is still missing after
   * {@link ATTEMPTS} snapshots, or SQLite's error.
   */
  read<T>(fn: (table: SpanTable, pages: StorePages) => T): T {
    for (let attempt = 1; ; attempt++) {
      try {
        return this.main.transaction(() => {
          this.follow()
          return fn(this.table, this.pages)
        })()
      } catch (err) {
        if (!(err instanceof StoreGoneError)) throw err
        if (attempt >= ATTEMPTS) throw new RangeStoreError(err.message)
      }
    }
  }

  /** close closes every connection. Idempotent. */
  close(): void {
    for (const s of this.opened.values()) s.db.close()
    this.opened.clear()
    this.main.close()
  }

  /** follow reads the table in the current snapshot and brings the open stores to it. */
  private follow(): void {
    const table = readSpanTable(this.main, this.data.dataDir)
    const spans = table.spans()
    if (spans.length === this.opened.size && spans.every((s) => same(this.opened.get(s.store)?.span, s))) {
      this.table = table
      return
    }
    // A store the table no longer names (or names for another span) is never read again.
    for (const [id, s] of this.opened) {
      if (same(table.spanOf(id), s.span)) continue
      s.db.close()
      this.opened.delete(id)
    }
    for (const span of spans) if (!this.opened.has(span.store)) this.opened.set(span.store, this.open(span))
    this.table = table
  }

  private open(span: StoreSpan): OpenStore {
    let db: Database.Database
    try {
      db = openConnection(rangeStorePath(this.data.dataDir, span.store), 'NORMAL', this.data.pageSize, undefined, true)
    } catch (err) {
      throw new StoreGoneError(`data dir ${this.data.dataDir}: range store ${span.store} serving hashes [${span.lo}, ${span.hi}) cannot be opened (${(err as Error).message}); its file is gone`)
    }
    try {
      checkRangeStoreFile(db, this.data.dataDir, span, this.data.dataDirId)
      return {span, db, pages: prepareCopyPageStatements(db)}
    } catch (err) {
      db.close()
      throw err
    }
  }
}

function same(a: StoreSpan | undefined, b: StoreSpan | undefined): boolean {
  return a !== undefined && b !== undefined && a.store === b.store && a.lo === b.lo && a.hi === b.hi
}
