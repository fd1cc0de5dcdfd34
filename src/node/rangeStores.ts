import type Database from 'better-sqlite3'
import {openConnection} from './lwwSql.js'
import {checkRangeStoreFile, rangeStorePath, readSpanTable, requireRangeStoreFiles, sweepOrphanRangeStores} from './rangeStoreFiles.js'
import {type CopyPageStatements, prepareCopyPageStatements} from './copyPageReader.js'
import {DigestCells} from './digestCells.js'
import {migrateDigestFormat} from './digestFormatMigration.js'
import {SpanTable} from './spanTable.js'
import {prepareStoreReads, type StoreReads} from './storeReads.js'

/**
 * RangeStore is one open range store: its read connection, the reads every store answers,
 * and its digest cells, loaded at open and then kept by the writer thread's replies (its
 * StoreWriters writes the store: StorageEngine applies each reply's cell changes here).
 */
export class RangeStore {
  readonly reads: StoreReads
  readonly cells = new DigestCells()
  /** syncedVersion is this connection's `data_version` when the cells last matched the rows (StorageEngine's stale-cells check, per store). */
  syncedVersion: number
  private pageStmts: CopyPageStatements | undefined
  private readonly versionStmt: Database.Statement<[], number>
  private readonly snapshotStmt: Database.Statement<[], unknown>

  constructor(readonly db: Database.Database) {
    this.reads = prepareStoreReads(db)
    this.cells.load(this.reads.fineAll.all())
    this.versionStmt = db.prepare<[], number>('PRAGMA data_version').pluck()
    this.snapshotStmt = db.prepare<[], unknown>('SELECT 1 FROM meta LIMIT 1')
    this.syncedVersion = this.dataVersion()
  }

  /** dataVersion is the connection's `PRAGMA data_version`: it changes when another connection (the writer) committed to the file. */
  dataVersion(): number {
    return Number(this.versionStmt.get())
  }

  /** snapshot starts the read transaction's snapshot on this connection (inside a transaction begun on it). */
  snapshot(): void {
    this.snapshotStmt.get()
  }

  /** pages are the range scans of scan and copy pages on this connection, prepared on first use. */
  pages(): CopyPageStatements {
    this.pageStmts ??= prepareCopyPageStatements(this.db)
    return this.pageStmts
  }
}

/** RangeStoresOptions: what {@link RangeStores.open} needs of the engine opening it. */
export interface RangeStoresOptions {
  /** dataDir is the node's data dir (its ranges folder holds the store files). */
  dataDir: string
  /** main is a connection to the main file, whose range_store table is read. */
  main: Database.Database
  /** dataDirId is the data dir's id: every range store file must name it. */
  dataDirId: string
  /** pageSize and synchronous: the pragmas of every connection the node opens (openConnection). */
  pageSize: number
  synchronous: 'FULL' | 'NORMAL'
}

/**
 * RangeStores is the set of a node's range store files (issue 12 stage 1, src/node/README.md
 * "A file per large range"): the span table read from the main file, and a read connection
 * per store the table names. Opening it deletes the orphans (files no row names: a split-out
 * that crashed before its main-file commit, a drop or merge that crashed after its) and
 * refuses a data dir whose table names a missing file or one made for another span or dir.
 * With no range store (every node until something splits a range out) it holds nothing,
 * opens nothing, and the engine runs its single-store paths.
 */
export class RangeStores {
  private constructor(
    /** table says which store serves which hash; every hash outside its spans is the main file's. */
    readonly table: SpanTable,
    private readonly opened: Map<string, RangeStore>,
    /** swept names the orphan stores whose files this open deleted. */
    readonly swept: readonly string[],
  ) {}

  /**
   * open reads the span table, opens a read connection to each store (checked against the
   * table: checkRangeStoreFile), then deletes the orphan store files. Throws RangeStoreError
   * (the table invalid, a store's file missing or not the one recorded), or SQLite's error
   * for an unusable file, with every connection it opened closed again. Call it under the
   * data dir's lock, before the engine's writer starts.
   */
  static open(opts: RangeStoresOptions): RangeStores {
    const table = readSpanTable(opts.main, opts.dataDir)
    requireRangeStoreFiles(opts.dataDir, table)
    const dbs: Database.Database[] = []
    try {
      const opened = new Map<string, RangeStore>()
      for (const span of table.spans()) {
        const db = openConnection(rangeStorePath(opts.dataDir, span.store), opts.synchronous, opts.pageSize)
        dbs.push(db)
        checkRangeStoreFile(db, opts.dataDir, span, opts.dataDirId)
        // Cells at another format than this build's (a store written by another build) are recomputed, as the main file's are.
        migrateDigestFormat(db)
        opened.set(span.store, new RangeStore(db))
      }
      // Only once every recorded store checked out: a refused dir keeps its files as they were.
      return new RangeStores(table, opened, sweepOrphanRangeStores(opts.dataDir, table))
    } catch (err) {
      for (const db of dbs) db.close()
      throw err
    }
  }

  /** store is open range store `store`; throws RangeError for a store the set does not hold. */
  store(store: string): RangeStore {
    const s = this.opened.get(store)
    if (!s) throw new RangeError(`no range store ${store} is open`)
    return s
  }

  /** all lists the open range stores. */
  all(): IterableIterator<RangeStore> {
    return this.opened.values()
  }

  /** close closes every store's connection. Idempotent. */
  close(): void {
    for (const s of this.opened.values()) s.db.close()
    this.opened.clear()
  }
}
