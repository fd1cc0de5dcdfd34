import {randomInt, randomUUID} from 'node:crypto'
import {existsSync} from 'node:fs'
import {join} from 'node:path'
import type Database from 'better-sqlite3'
import {HASH_SPACE, keyHash} from '../model/hash.js'
import {parseHlc} from '../model/hlc.js'
import {type HashRange} from '../model/range.js'
import {DigestCells, type FineCell} from './digestCells.js'
import {digestLayout, FINE_COUNT, fineOf} from './digestLayout.js'
import {type ApplyOptions, type ApplyResult, DB_FILE, type GcFloor, openConnection} from './lwwSql.js'
import {versionWall} from './lwwMerge.js'
import {type NodeRecord, recordsDataBytes} from './protocol.js'
import {encodeRecords} from './recordCodec.js'
import {RECORD_HASH_FORMAT, type RecordHashFormat, recordHash, recordHashAt} from './recordHash.js'
import {type CopyPage, type CopyPageStatements, copyPageOf, prepareCopyPageStatements, type ScanPage} from './copyPageReader.js'
import {CopyReader, type WalCheckpoint} from './copyReader.js'
import {type BucketListing, readBucketListing} from './bucketListing.js'
import {allocTransferable, transferableCopyOf} from './transferableBatch.js'
import {COPY_FRAME_SLAB_BYTES, COPY_FRAME_SLABS, FrameSlabs} from './copyFrameSlabs.js'
import {StorageFullError} from './storageFull.js'
import {type FullRetry} from './diskReservePolicy.js'
import {type CommitKind, StorageWriter} from './storageWriter.js'
import {FileSyncer} from './fileSyncer.js'
import {WalSyncPacer, type WalSyncTask} from './walSyncPacer.js'
import {WalRestartBook} from './walRestartBook.js'
import {nextDropBudget} from './dropBudget.js'
import {floorsOver} from './gcFloorsHeader.js'
import {makeDirectories} from '../fs/makeDirectories.js'
import {MAIN_SCHEMA_SQL} from './storeSchema.js'
import {type RangeStore, RangeStores} from './rangeStores.js'
import {nodeRowValue, recordedNode, syncRangeStoreMark} from './rangeStoreMark.js'
import {RangeStoreError} from './rangeStoreFiles.js'
import {prepareStoreReads, type StoreReads} from './storeReads.js'
import {type StoreChanges} from './storeWriters.js'
import {rowsAcross, scanStores, type StorePages} from './spanScan.js'
import {type SpanPart} from './spanTable.js'
import {migrateDigestFormat} from './digestFormatMigration.js'

export type {ApplyOptions, ApplyResult, DeletePrior, Superseded} from './lwwSql.js'
export type {CommitKind} from './storageWriter.js'

/** DATA_DIR_ID is the meta row holding the data dir's id (see {@link StorageEngine.dataDirId}). */
const DATA_DIR_ID = 'dataDir'
/** WRITE_MARK: the meta row of the dir's write mark (see NodeMarkSchema in src/model/node.ts). */
const WRITE_MARK = 'writeMark'

/**
 * hasDatabase: `dir` holds a database already (its dir id can be read once it is opened).
 * Without one the dir is new: a start there makes it, which a refused start must not do.
 */
export function hasDatabase(dir: string): boolean {
  return existsSync(join(dir, DB_FILE))
}

/** ForeignClusterError: a data dir recorded for another cluster incarnation (see StorageEngineOptions.clusterUid). */
export class ForeignClusterError extends Error {}

/** StorageEngineOptions configures {@link StorageEngine.open}. */
export interface StorageEngineOptions {
  /** dir holds the database (created if missing). */
  dir: string
  /** nodeId is recorded on first open; opening the dir as another node throws (a data dir belongs to one node). */
  nodeId?: string
  /**
   * clusterUid is the cluster incarnation (meta.uid), recorded on first open; opening the dir
   * for another incarnation throws (its data belongs to a cluster since re-initialised).
   */
  clusterUid?: string
  /**
   * synchronous: `FULL` (default) fsyncs the WAL on every commit, so an acknowledged write
   * survives power loss; `NORMAL` survives a process crash but may lose the last commits
   * on power loss (WAL is fsynced only at checkpoints). Group commit amortises the fsync.
   */
  synchronous?: 'FULL' | 'NORMAL'
  /**
   * onCommit hears how long each committed SQLite transaction took, fsync of the WAL
   * included: `group` (group-committed applies), `copy` (a copy frame), `purge` (tombstones).
   */
  onCommit?: (kind: CommitKind, seconds: number, records: number) => void
  /**
   * onWalSync hears each background fdatasync off the writer thread and how long it took:
   * `wal` (a flush of copy commits made without fsync), `db` (the database file after a
   * background checkpoint). See StorageEngine's `wrote`.
   */
  onWalSync?: (file: 'wal' | 'db', seconds: number) => void
  /**
   * onWalWait hears each wait of a copy commit for the WAL to restart (see walRoom): how it
   * ended (`restarted`: nothing left to copy, the next commit restarts the WAL; `gave-up`:
   * it could not, the copy went on) and how long the copy waited.
   */
  onWalWait?: (outcome: 'restarted' | 'gave-up', seconds: number) => void
  /** walRestartBytes replaces {@link WAL_RESTART_BYTES} (tests; Infinity turns the wait off). */
  walRestartBytes?: number
  /**
   * tombstoneGraceMs is the node's stale-write window: client values whose version is older
   * than this (by the node's clock) are refused ({@link StorageEngine.staleFloor}), and
   * tombstone purge cutoffs are never newer than it. It no longer purges anything by itself:
   * tombstones go only through {@link StorageEngine.purgeTombstones}, after anti-entropy.
   */
  tombstoneGraceMs: number
  /**
   * maxClockOffsetMs is the cluster's bound on clock offset (default 500 ms): tombstone
   * cutoffs stay twice this below the stale floor ({@link StorageEngine.cutoffLimit}).
   */
  maxClockOffsetMs?: number
  /**
   * onWriterFailed hears, once, that the storage writer thread died or could not open the
   * database: every write fails from then on, so a node must stop serving and exit to be
   * restarted (see StorageNode). Not called when the engine is closed.
   */
  onWriterFailed?: (err: Error) => void
  /**
   * onStorageFull hears when writes start failing for want of disk space (`err`: the first
   * refusal, a {@link StorageFullError}; every refused write rejects with one) and when a
   * write that changed rows commits again (`err` undefined). The writer stays up: reads go on, and writes
   * resume by themselves once there is room.
   */
  onStorageFull?: (err: StorageFullError | undefined) => void
  /**
   * onFreeingFull is asked when a transaction of an operation that frees space (a range
   * drop, a copy state's removal, a tombstone purge) found no room: `what` names the
   * operation, `checkpointed` says this transaction was already retried after a WAL
   * checkpoint. It answers the next step (the node's DiskReserve: `release` after giving its
   * reserve up, `checkpoint`, or `fail`); the engine then retries the transaction or rejects
   * with the StorageFullError. Absent: such a transaction fails like any write.
   */
  onFreeingFull?: (what: string, checkpointed: boolean) => Promise<FullRetry>
  /** clock returns wall milliseconds (injected for tests). */
  clock?: () => number
  /** maxTxnBytes bounds one group-commit transaction (one call is never split). */
  maxTxnBytes?: number
  /**
   * writerThread: true (default) commits in the storage writer thread, off the event loop;
   * false runs the same writer on the main thread (tests that open many engines: starting
   * a thread per engine costs more than the test).
   */
  writerThread?: boolean
  /**
   * writerBusyTimeoutMs: how long a write waits for the database's write lock while another
   * connection (a backup tool, an operator's sqlite3) holds it before it fails; default 5 s
   * (BUSY_TIMEOUT_MS). Tests that hold the lock on purpose set it short.
   */
  writerBusyTimeoutMs?: number
  /**
   * readRangeStores opens a data dir whose main file names range stores (issue 12 stage 1),
   * reading each span from its store. Off (the default: node serve), such a dir is refused
   * with RangeStoreError: this build routes reads, client writes, copy frames, purges, drops
   * and floors' value drops by span, but gives back free pages and checkpoints the main file's
   * only, so a range store's file and WAL would keep what a drop freed. For the tests of what
   * is built.
   */
  readRangeStores?: boolean
}

export type {ScanPage} from './copyPageReader.js'

/** RangeDigest is a range's digest buckets (see protocol DigestResponse). */
export interface RangeDigest {
  /** format is the record hash format the buckets were computed at (see recordHashAt). */
  format: RecordHashFormat
  bounds: number[]
  buckets: string[]
  counts: number[]
  /** tombstonesExcluded counts the tombstones a cutoff left out (present when a cutoff was given). */
  tombstonesExcluded?: number
}

/** RangeTotals are the records (tombstones included) and bytes (keys + values) stored in a range. */
export interface RangeTotals {
  keys: number
  bytes: number
}

interface Row {
  h: number
  k: Buffer
  ver: string
  v: Buffer | null
}

/**
 * PAGE_SIZE is the page size a new data dir is created with (SHARDCTL_SQLITE_PAGE_SIZE; blank
 * is the default, as node serve judges it: tuningEnv.ts refuses any other value that is not a
 * SQLite page size). An existing file keeps the size it was made with: what counts WAL frames
 * in bytes is the engine's {@link StorageEngine.pageSize}, read from the file.
 */
const PAGE_SIZE = Number(process.env.SHARDCTL_SQLITE_PAGE_SIZE?.trim() || 16384)
/** TOMBSTONES_BEFORE_SQL: see storeReads.ts (exported here too, where it was first). */
export {TOMBSTONES_BEFORE_SQL} from './storeReads.js'

/**
 * BACKGROUND_CHECKPOINT_BYTES: after about this many bytes of writes committed, the copy
 * reader thread runs a PASSIVE WAL checkpoint (the writer connection's own default would
 * run one every 1000 pages, 16 MiB, inside whichever commit crossed it). A checkpoint
 * fsyncs the WAL and the database file; inside a copy's commits it held the writer thread
 * for about half its time (bench/README.md, "the WAL checkpoint off the copy path").
 */
export const BACKGROUND_CHECKPOINT_BYTES = 16 * 1024 * 1024
/**
 * WRITER_AUTOCHECKPOINT_BYTES is the writer connection's autocheckpoint when checkpoints
 * run in the background: a backstop that bounds the WAL (so reopening after a crash reads
 * at most this much of it) and restarts it. The background checkpoints never end with
 * every frame copied while a copy keeps committing, so the WAL only restarts after a
 * writer's checkpoint; most frames are in the database file by then, so it is short.
 */
export const WRITER_AUTOCHECKPOINT_BYTES = 128 * 1024 * 1024

/**
 * WAL_RESTART_BYTES: once the WAL is about this long, the next copy commit waits (client
 * writes never do) while checkpoints copy all of it into the database file, so the commit
 * after them restarts the WAL (see walRoom). Without
 * the wait a copy that keeps committing outruns the checkpoints, the WAL grows to the
 * writer's {@link WRITER_AUTOCHECKPOINT_BYTES} backstop, and the writer then checkpoints
 * the backlog inside whichever commit crossed it: in bench:move on the 2-core VM under
 * load, client commits of 130 to 430 ms and a copy commit of 580 ms with the WAL at 146
 * to 235 MiB, which were the client gaps of 200 to 550 ms at cutover.
 */
export const WAL_RESTART_BYTES = 64 * 1024 * 1024

/** WAL_RESTART_SLACK_BYTES: the backlog the writer thread's own checkpoint may be left to copy when a copy waits for the WAL to restart (a few client commits' worth). */
export const WAL_RESTART_SLACK_BYTES = 1024 * 1024

/** WAL_RESTART_WAIT_MS bounds one such wait: a reader holding an old snapshot can keep the WAL from being copied whole, and the copy must not stop for it (the backstop remains). */
export const WAL_RESTART_WAIT_MS = 1000
/**
 * WAL_FLUSH_BYTES: after about this many bytes committed without an fsync (copy slices),
 * the WAL is fdatasync'd on libuv's thread pool, off the writer thread. The writer's next
 * fsync (a client's group commit) then writes out at most about this much of the copy's
 * WAL instead of everything since the last checkpoint (bench/README.md, "client p99 during
 * copy").
 */
export const WAL_FLUSH_BYTES = 4 * 1024 * 1024

/**
 * MAX_PENDING_FENCES bounds the pending fences (fencePending) one range keeps held: a round
 * confirms within seconds of its fence, so more than a few are rounds that gave up; the
 * oldest is forgotten first (its confirm is then refused: the round purges nothing).
 */
const MAX_PENDING_FENCES = 8

/**
 * PendingFence is a gc fence a round has not confirmed yet ({@link StorageEngine.fencePending}):
 * held while the replica has gained no value older than `before` in [lo, hi) since it was set.
 */
interface PendingFence {
  id: number
  lo: number
  hi: number
  before: number
}

/** DELETE_SLICE_MS bounds how long one slice of a range drop holds the writer before queued writes get their turn. */
const DELETE_SLICE_MS = 8
/**
 * DROP_BUDGET sizes each transaction of a range drop in table order (nextDropBudget): about
 * 40 ms of holding the writer, commit and fsync included, so a client write queued behind
 * one waits about that long; at least 64 rows (the drop advances however slow the disk),
 * at most 4,096 (one fsync each). A fixed 512-row floor with a 25 ms check inside the
 * transaction held the writer 100 to 250 ms: the commit writes about one index page per
 * row into the WAL, and the check cannot see that. In-process drops of 100k 40-byte keys
 * on a loaded machine (load 10 to 20): the old loop held the writer p50 171 ms, 2,204 keys/s;
 * a 30 ms target p50 35 ms at 1,787 keys/s; 50 ms p50 48 ms at 2,421 keys/s.
 */
const DROP_BUDGET = {targetSeconds: 0.04, minRows: 64, maxRows: 4096}
/** DROP_SLICE_MS also stops a drop transaction's deletes after this long (after DROP_BUDGET.minRows), when rows are slower than the budget expected. */
const DROP_SLICE_MS = 25

/**
 * FREE_PAGES_PER_TXN: free pages one transaction gives back to the file system after a drop
 * (LwwWriter.returnFreePages): at most 4 MiB of live pages moved at 16 KiB pages, about as
 * long as a drop's transaction holds the writer (a 97 MiB give-back of 1024-page
 * transactions took 83 ms each on the development VM), so client writes queued meanwhile wait
 * no longer than behind the drop itself.
 */
const FREE_PAGES_PER_TXN = 256
/** FINAL_CHECKPOINT_ATTEMPTS and _RETRY_MS: how often, and how far apart, a give-back asks for the checkpoint that cuts the file. */
const FINAL_CHECKPOINT_ATTEMPTS = 5
const FINAL_CHECKPOINT_RETRY_MS = 100
/** DROP_IDS_PER_READ bounds the row ids one writer request collects for a drop (a short read of the (h, k) index). */
const DROP_IDS_PER_READ = 65_536
/** BIG_ROW_BYTES: rows this large on average fill their own table pages, so a drop deletes them by hash range (no id pass). */
const BIG_ROW_BYTES = 2048

/** RangeDropStoppedError: a range drop stopped because `keepGoing` said the range is wanted again; what it deleted stays deleted. */
export class RangeDropStoppedError extends Error {
  constructor(readonly deleted: number) {
    super(`the range drop stopped after ${deleted} record(s): the range is held again`)
    this.name = 'RangeDropStoppedError'
  }
}

/**
 * StaleCells names the cached digest cells that may lag a read transaction's snapshot
 * (StorageEngine.staleCells): a set (or undefined: none) for the main file while the node has
 * no range store; with range stores, a set per store that lags (undefined key: the main file).
 */
type StaleCells = ReadonlySet<number> | ReadonlyMap<string | undefined, ReadonlySet<number>> | undefined

/**
 * StorageEngine is a storage node's durable record store on SQLite (better-sqlite3, WAL).
 * Rows are keyed by (hash, key) through a unique index, so a shard is an index range scan
 * and a split rewrites nothing. The rows themselves live in a rowid table in arrival
 * order: random-key writes then dirty one table page and one small index page each
 * instead of one 16 KiB leaf of a clustered WITHOUT ROWID table, which measured 7-10×
 * faster for random writes at a ~30 % cost in scan rate (bench/storage.ts).
 *
 * Three parts, one job each:
 * - writes (LWW merges, copy frames, purges, range drops, meta and gc floors) go to the
 *   storage writer thread through a group-commit queue ({@link StorageWriter}); the
 *   thread's {@link LwwWriter} is the database's only writer, so commits and fsyncs never
 *   hold this event loop, and LWW is decided inside the committing transaction (the
 *   argument is on LwwWriter);
 * - reads (get, scan, digest slivers, bucket records, meta) run here, on a second
 *   connection that only reads: WAL readers never wait for the writer and see every
 *   committed transaction;
 * - digests come from a {@link DigestCells} cache that each committed transaction updates
 *   before its writes are acknowledged.
 *
 * Methods that write return promises that settle once committed (durable under
 * synchronous=FULL); they reject with the SQLite error on I/O failure (disk full, ...)
 * and with an Error once the engine is closed.
 */
export class StorageEngine {
  private readonly db: Database.Database
  /**
   * stores are the node's range store files and the span table saying which hashes they serve
   * (issue 12 stage 1, src/node/README.md "A file per large range"). Built so far: opened,
   * checked and swept of orphans at open, closed at close, and reads route by span (each
   * read's single-file path runs unchanged while the table is empty: always, in production,
   * since nothing creates a store yet). Client writes, copy frames and meta deletions route
   * by span in the writer thread (StoreWriters), and so do purges, drops and the values
   * adopted floors drop (the floors stay in the main file); free pages are given back and
   * checkpoints run on the main file only, which is why open refuses such a dir unless
   * readRangeStores.
   */
  private readonly stores: RangeStores
  private readonly clock: () => number
  private readonly graceMs: number
  private readonly maxOffsetMs: number
  private maxClock = 0
  /** floors are the gc floors set by {@link fenceBelow} (persisted in gc_floor), one per hash range. */
  private floors: GcFloor[] = []
  /**
   * pending are the fences set by {@link fencePending} that are still held (a value older
   * than one, gained since, removes it: {@link dropBrokenFences}). In memory only: a
   * restart forgets them, and a round whose fence it forgot purges nothing.
   */
  private pending: PendingFence[] = []
  private readonly cells = new DigestCells()
  /** syncedVersion is this connection's `data_version` when the cells last matched the rows (see {@link staleCells}). */
  private syncedVersion: number
  private readonly writer: StorageWriter
  /** copyReader reads copy pages in a thread of its own (undefined with `writerThread: false`: pages are read here). */
  private readonly copyReader: CopyReader | undefined
  /** pageStmts are the range scans of `scan` and of copy pages read on this thread, prepared on first use. */
  private pageStmts: CopyPageStatements | undefined
  private closed = false
  private readonly stmts: ReturnType<StorageEngine['prepare']>
  /** walPacer decides when the WAL is flushed or checkpointed in the background (see {@link wrote}). */
  private readonly walPacer = new WalSyncPacer({flushBytes: WAL_FLUSH_BYTES, checkpointBytes: BACKGROUND_CHECKPOINT_BYTES})
  /** walSyncer and dbSyncer fdatasync the WAL and the database file off the writer thread. */
  private readonly walSyncer: FileSyncer
  private readonly dbSyncer: FileSyncer
  /** walTask is the background flush or checkpoint running (one at a time), settled (never rejects). */
  private walTask: Promise<void> | undefined
  /** walBook estimates the WAL's length and says when a copy commit must wait for it to restart (see {@link walRoom}). */
  private readonly walBook: WalRestartBook
  private readonly onWalSync: StorageEngineOptions['onWalSync']
  private readonly onWalWait: StorageEngineOptions['onWalWait']
  /** synchronousFull: commits fsync the WAL unless asked not to (a copy slice). */
  private readonly synchronousFull: boolean
  private readonly onFreeingFull: StorageEngineOptions['onFreeingFull']
  /** givingBack is the running {@link returnFreeSpace}; giveBackAgain: a drop ended during it. */
  private givingBack: Promise<void> | undefined
  private giveBackAgain = false
  /** frameSlabs are the slabs copy frames are received into (made at the first copy, see {@link copyFrameSlabs}); null: the node makes none. */
  private frameSlabs: FrameSlabs | null | undefined
  /** strained counts freeing operations running since one of their transactions found no room (see {@link freeing}). */
  private strained = 0

  /**
   * pageSize is the database file's own page size (`PRAGMA page_size`), in which SQLite counts
   * WAL frames and free pages: a data dir keeps the size it was created with, whatever
   * SHARDCTL_SQLITE_PAGE_SIZE says now. Until session 40 the WAL bookkeeping counted in
   * PAGE_SIZE, so a dir made under another value was estimated 4x off (4096 against 16384).
   */
  readonly pageSize: number

  private constructor(db: Database.Database, file: string, opts: StorageEngineOptions, stores: RangeStores) {
    this.db = db
    this.stores = stores
    this.pageSize = Number(db.pragma('page_size', {simple: true}))
    this.clock = opts.clock ?? Date.now
    this.graceMs = opts.tombstoneGraceMs
    this.maxOffsetMs = opts.maxClockOffsetMs ?? 500
    this.stmts = this.prepare()
    this.cells.load(this.stmts.fineAll.all())
    this.syncedVersion = this.dataVersion()
    this.walSyncer = new FileSyncer(`${file}-wal`)
    this.dbSyncer = new FileSyncer(file)
    this.synchronousFull = (opts.synchronous ?? 'FULL') === 'FULL'
    this.onWalSync = opts.onWalSync
    this.onWalWait = opts.onWalWait
    this.onFreeingFull = opts.onFreeingFull
    this.walBook = new WalRestartBook({restartBytes: opts.walRestartBytes ?? WAL_RESTART_BYTES, pageSize: this.pageSize})
    this.floors = this.db.prepare<[], GcFloor>('SELECT lo, hi, floor FROM gc_floor').all()
    const threads = opts.writerThread ?? true
    // The writer thread opens its connection after the schema and cells above are in place.
    this.writer = new StorageWriter({
      file,
      synchronous: opts.synchronous ?? 'FULL',
      pageSize: this.pageSize,
      busyTimeoutMs: opts.writerBusyTimeoutMs,
      // With a copy reader thread to checkpoint in the background, the writer's own autocheckpoint is only a backstop.
      autocheckpointPages: threads ? Math.ceil(WRITER_AUTOCHECKPOINT_BYTES / this.pageSize) : undefined,
      maxTxnBytes: opts.maxTxnBytes ?? 8 * 1024 * 1024,
      committed: (changes, stores) => {
        this.cells.commit(changes)
        // Nothing else is in flight now (the queue posts the next request after this), so the rows match the cells.
        this.syncedVersion = this.dataVersion()
        if (!this.stores.table.isEmpty) this.storesCommitted(stores)
      },
      onCommit: opts.onCommit,
      failed: opts.onWriterFailed,
      storageFull: opts.onStorageFull,
      // While a drop or purge frees space on a full disk, the room it found is its own.
      refuseWrites: () => this.strained > 0,
      thread: threads,
    })
    this.copyReader = threads ? new CopyReader({file, pageSize: this.pageSize, dataDir: opts.dir, dataDirId: this.dataDirId()}) : undefined
  }

  /** storesCommitted takes a writer reply's range store cell changes into each store's cache; every store's rows then match its cells. */
  private storesCommitted(changes: readonly StoreChanges[] | undefined): void {
    for (const c of changes ?? []) this.stores.store(c.store).cells.commit(c.changes)
    for (const s of this.stores.all()) s.syncedVersion = s.dataVersion()
  }

  /**
   * open opens (creating if needed) the engine in `opts.dir` and starts its writer thread.
   * Throws Error when the dir belongs to another node id or cluster incarnation, or
   * SQLite's error when the file is unusable.
   */
  static open(opts: StorageEngineOptions): StorageEngine {
    makeDirectories(opts.dir)
    const file = join(opts.dir, DB_FILE)
    const db = openConnection(file, opts.synchronous ?? 'FULL', PAGE_SIZE)
    let stores: RangeStores | undefined
    try {
      db.exec(MAIN_SCHEMA_SQL)
      migrateDigestFormat(db)
      if (opts.nodeId !== undefined) {
        const row = db.prepare('SELECT value FROM meta WHERE name = ?').get('node') as {value: string} | undefined
        // The row may carry the range store mark (rangeStoreMark.ts): the node is what precedes it.
        const node = row ? recordedNode(row.value) : ''
        if (node !== '' && node !== opts.nodeId) throw new Error(`data dir ${opts.dir} belongs to node "${node}", not "${opts.nodeId}"`)
        if (node === '') db.prepare('INSERT INTO meta (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value').run('node', nodeRowValue(opts.nodeId, row !== undefined && row.value !== node))
      }
      if (opts.clusterUid !== undefined) {
        const row = db.prepare('SELECT value FROM meta WHERE name = ?').get('cluster') as {value: string} | undefined
        if (row && row.value !== opts.clusterUid) throw new ForeignClusterError(`data dir ${opts.dir} holds data of an earlier incarnation of the cluster (uid ${row.value}, now ${opts.clusterUid}: it was re-initialised since)`)
        if (!row) db.prepare('INSERT INTO meta (name, value) VALUES (?, ?)').run('cluster', opts.clusterUid)
      }
      // The dir's own id, made on first open (and on the first open of a dir made before it
      // existed): the node publishes it in its record, so a start on another dir (a replaced
      // disk, a mistyped --data-dir) can be told from a restart (src/node/dataDirClaim.ts).
      if (!db.prepare('SELECT value FROM meta WHERE name = ?').get(DATA_DIR_ID)) db.prepare('INSERT INTO meta (name, value) VALUES (?, ?)').run(DATA_DIR_ID, randomUUID())
      // The range store files (issue 12 stage 1): none on every node until something splits a
      // range out, and then only the orphan sweep and the checks run here.
      const dataDirId = (db.prepare('SELECT value FROM meta WHERE name = ?').get(DATA_DIR_ID) as {value: string}).value
      stores = RangeStores.open({dataDir: opts.dir, main: db, dataDirId, pageSize: Number(db.pragma('page_size', {simple: true})), synchronous: opts.synchronous ?? 'FULL'})
      if (!stores.table.isEmpty && !opts.readRangeStores) throw new RangeStoreError(`data dir ${opts.dir} holds ${stores.table.spans().length} range store file(s) (ranges/), whose free pages and checkpoints this build does not route yet; serve it with a build that does`)
      // Builds before range stores must refuse a dir whose table names one: the mark follows the table.
      syncRangeStoreMark(db)
      return new StorageEngine(db, file, opts, stores)
    } catch (err) {
      stores?.close()
      db.close()
      throw err
    }
  }

  /** prepare builds the read statements of this (main-thread, read-only) connection. */
  private prepare() {
    const db = this.db
    return {
      ...prepareStoreReads(db),
      snapshot: db.prepare<[], {one: number}>('SELECT 1 AS one FROM meta LIMIT 1'),
      // Prepared once: db.pragma() compiles the statement on every call, and this runs after every commit.
      dataVersion: db.prepare<[], number>('PRAGMA data_version').pluck(),
    }
  }

  /**
   * apply merges `records` (LWW) and resolves once they are committed and durable. Calls
   * made in the same event-loop turn, or while the previous commit runs, share one
   * transaction (group commit). Rejects with RangeError for a record whose version is not
   * a formatHlc string; the whole call is then refused and nothing of it is written.
   */
  apply(records: readonly NodeRecord[], opts: ApplyOptions = {}): Promise<ApplyResult> {
    if (this.closed) return Promise.reject(new Error('storage engine is closed'))
    const bad = badVersion(records)
    if (bad) return Promise.reject(bad)
    // In the turn the apply is queued: a fence's digest covers what was queued before it, this what comes after.
    this.dropBrokenFences(records)
    return this.wrote(this.writer.apply(records, opts), recordsDataBytes(records), this.synchronousFull)
  }

  /**
   * wrote returns `write`, and once it committed counts its `bytes` (`synced`: the commit
   * fsync'd the WAL) towards the background WAL work {@link walPacer} asks for, one task
   * at a time, never on the writer thread: every {@link BACKGROUND_CHECKPOINT_BYTES} a
   * PASSIVE checkpoint in the copy reader thread followed by an fdatasync of the database
   * file, and every {@link WAL_FLUSH_BYTES} committed without fsync an fdatasync of the WAL.
   *
   * Why the database file too: a PASSIVE checkpoint that does not reach the WAL's end (a
   * copy keeps committing) writes pages into the database file without syncing it; left
   * alone, those pages (up to the 128 MiB backstop) were all synced inside the writer's
   * own autocheckpoint, which held client commits for 100 to 300 ms. Extra syncs change
   * nothing SQLite relies on: they only make written pages durable sooner. A failed task is
   * left to the next one, and to the writer's own fsyncs and backstop.
   */
  private wrote<T>(write: Promise<T>, bytes: number, synced: boolean): Promise<T> {
    const reader = this.copyReader
    if (!reader) return write
    return write.then((result) => {
      this.walBook.committed(bytes)
      this.startWalTask(this.closed ? undefined : this.walPacer.committed(bytes, synced), reader)
      return result
    })
  }

  /** startWalTask starts the background WAL task walPacer asked for, if any. */
  private startWalTask(task: WalSyncTask, reader: CopyReader): void {
    if (task === 'checkpoint') this.background(this.checkpointed(reader))
    else if (task === 'flush') this.background(this.synced('wal', this.walSyncer))
  }

  /**
   * checkpointed runs a background checkpoint, tells walBook what it found, fdatasyncs the
   * database file when it copied frames there that the last one had not, and returns what
   * it found (log -1: SQLite's checkpoint lock was held, see WalRestartBook.checkpointFound).
   * It tells walPacer whether the checkpoint fsync'd the WAL: only one that copied something
   * did (a failed one is counted as not).
   */
  private async checkpointed(reader: CopyReader): Promise<WalCheckpoint> {
    const mark = this.walBook.checkpointBegins()
    const c = await reader.checkpoint().catch((err: unknown) => {
      this.walPacer.checkpointEnded(false)
      throw err
    })
    const copied = this.walBook.checkpointFound(c, mark)
    this.walPacer.checkpointEnded(copied)
    if (copied) await this.synced('db', this.dbSyncer)
    return c
  }

  /**
   * walRoom resolves when a copy commit may go: at once unless the WAL is about
   * walRestartBytes long (walBook). Then background checkpoints that began while this
   * copy waited copy the backlog until at most {@link WAL_RESTART_SLACK_BYTES} is left
   * (client writes go on adding a little), and the writer thread checkpoints that rest
   * itself: it is the only writer, so nothing is left to copy when it ends, and SQLite
   * restarts the WAL in the next write (it does so only in a write that begins with
   * nothing left to copy, which never happens while a copy commits back to back).
   *
   * It gives up, and lets the copy go, when that cannot work now: a checkpoint fails, finds
   * the checkpoint lock held, or copies nothing more than the last (a reader holding an old
   * snapshot: a backup tool, an operator's sqlite3 shell), or after about
   * {@link WAL_RESTART_WAIT_MS}. The next wait is then due only once the WAL grew another
   * walRestartBytes (WalRestartBook.gaveUp), so a cause that lasts costs one wait per walRestartBytes,
   * not one per copy slice; the writer's backstop still bounds the WAL. Only copy commits
   * wait here; client commits go on.
   */
  private async walRoom(): Promise<void> {
    const started = performance.now()
    const restarted = await this.walRestarted()
    this.onWalWait?.(restarted ? 'restarted' : 'gave-up', (performance.now() - started) / 1000)
  }

  /** walRestarted is walRoom's wait: true when the writer's checkpoint left nothing to copy, false when it gave up. */
  private async walRestarted(): Promise<boolean> {
    const reader = this.copyReader
    const until = performance.now() + WAL_RESTART_WAIT_MS
    let copiedBefore = -1
    while (reader && !this.closed && performance.now() < until) {
      // A running checkpoint began while the copy was committing: let it end, then run one of this wait's own.
      const running = this.walTask
      if (running) {
        await running
        continue
      }
      if (!this.walPacer.checkpointNow()) break
      const own = this.checkpointed(reader)
      this.background(own)
      const c = await own.catch(() => undefined)
      if (!c || c.log < 0 || c.checkpointed === copiedBefore) break
      copiedBefore = c.checkpointed
      if ((c.log - c.checkpointed) * this.pageSize > WAL_RESTART_SLACK_BYTES) continue
      const last = await this.writer.run<WalCheckpoint>({op: 'checkpoint'}).catch(() => undefined)
      if (!last || last.log < 0 || last.checkpointed < last.log) break
      // Everything in the database file: the next commit restarts the WAL.
      this.walBook.restarted()
      return true
    }
    this.walBook.gaveUp()
    return false
  }

  /** synced fdatasyncs `file` through `syncer` and tells onWalSync how long it took. */
  private async synced(file: 'wal' | 'db', syncer: FileSyncer): Promise<void> {
    const seconds = await syncer.sync()
    this.onWalSync?.(file, seconds)
  }

  /** background keeps `task` as the one running WAL task until it settles (its error dropped: see {@link wrote}). */
  private background(task: Promise<unknown>): void {
    const running: Promise<void> = task
      .then(() => undefined, () => undefined)
      .finally(() => {
        const owed = this.walPacer.finished()
        if (this.walTask === running) this.walTask = undefined
        // Not once closing: close() awaits the task it found, not one started after it.
        const reader = this.copyReader
        if (!this.closed && reader) this.startWalTask(owed, reader)
      })
    this.walTask = running
  }

  /** tombstoneCount is how many tombstones the node stores (all shards; the partial index makes it cheap). */
  tombstoneCount(): number {
    let n = this.stmts.tombstoneCount.get()?.n ?? 0
    // A range store holds rows of its span only, and the main file none there.
    for (const s of this.stores.all()) n += s.reads.tombstoneCount.get()?.n ?? 0
    return n
  }

  /**
   * applyCopyBatch merges `records` (LWW, as {@link apply}) and stores `state` under meta
   * `name` in one transaction, and resolves once it committed: a copy's resume cursor is
   * stored exactly when the records before it are. `durable` (default true) fsyncs the
   * commit; false skips that fsync (see LwwWriter.applyCopy: an OS crash may then cut
   * the copy back to an earlier cursor, data and cursor together), for every frame but
   * the one that completes a copy. `encoded` may pass the records' batch encoding when the
   * caller already holds it (a copy frame), to skip re-encoding: a buffer from
   * allocTransferable (transferableBatch.ts) is moved to the writer thread and detached
   * (the caller must not read it again, nor records viewing it), any other is copied
   * first. `records` may be decoded from `encoded` itself (a frame handed over whole): the
   * writer, which reads their keys while the batch is in flight (the digest cells it may
   * change), is then given copies of the keys. A batch lying at the start of one of this
   * engine's frame slabs ({@link copyFrameSlabs}) is handed over as the slab's index, neither
   * copied nor moved: the caller must keep the slab until the returned promise settles (the
   * writer reads it until then), and may free it from then on. Rejects with RangeError
   * (nothing written) for a record whose version is not a formatHlc string, or SQLite's
   * error on I/O failure.
   */
  applyCopyBatch(records: readonly NodeRecord[], name: string, state: string, encoded?: Buffer, durable = true): Promise<ApplyResult> {
    if (this.closed) return Promise.reject(new Error('storage engine is closed'))
    const bad = badVersion(records)
    if (bad) return Promise.reject(bad)
    // The records as they came, values included: the key copies below carry none, and a copy value older than a pending fence must drop it (dropBrokenFences).
    const received = records
    // The writer reads the keys in flight after the batch is gone: records decoded from the batch itself (a copy frame handed over whole) give it copies of their keys.
    if (encoded && records.some((r) => r.key.buffer === encoded.buffer)) records = keyCopies(records)
    const slab = encoded && encoded.byteOffset === 0 && this.frameSlabs ? this.frameSlabs.indexOf(encoded) : -1
    // The batch goes to the writer thread by transfer: a copy of 2 MiB per slice, twice over, was a measurable share of a destination's CPU.
    const batch = slab >= 0 ? encoded! : encoded ? transferableCopyOf(encoded) : encodeRecords(records, allocTransferable)
    const bytes = batch.length
    const write = () => {
      // Still readable here: a batch handed over by transfer is detached only once the writer posts it, after this turn.
      this.dropBrokenFences(received)
      // In a frame slab the writer already shares: only its index crosses.
      if (slab >= 0) return this.writer.run<ApplyResult>({op: 'copy', batch: {slab, length: bytes}, name, state, durable}, 'copy', records.length, {transfer: [], keys: records})
      return this.writer.run<ApplyResult>({op: 'copy', batch, name, state, durable}, 'copy', records.length, {transfer: [batch.buffer as ArrayBuffer], keys: records})
    }
    // The WAL check is synchronous when there is room, so a copy commit is queued at once as before.
    return this.wrote(this.walBook.mustWait() ? this.walRoom().then(write) : write(), bytes, durable && this.synchronousFull)
  }

  /**
   * copyFrameSlabs returns the slabs copy frames are received into (copyFrameSlabs.ts), made
   * at the first call and shared with the writer thread then (queued before any copy batch
   * that names one), or undefined when the node makes none (SHARDCTL_COPY_FRAME_SLABS=0,
   * `count` 0) or the engine is closed. `count` and `bytes` apply only to the first call (tests).
   */
  copyFrameSlabs(count = COPY_FRAME_SLABS, bytes = COPY_FRAME_SLAB_BYTES): FrameSlabs | undefined {
    if (this.frameSlabs === undefined && !this.closed) {
      this.frameSlabs = count > 0 ? FrameSlabs.create(count, bytes) : null
      // A writer that fails here fails every later write too: nothing to do with the error.
      if (this.frameSlabs) this.writer.run<void>({op: 'slabs', slabs: this.frameSlabs.shared.slabs}).catch(() => undefined)
    }
    return this.frameSlabs ?? undefined
  }

  /** dataDirId is the data dir's random id (meta `dataDir`, made when the dir was first opened by a build that has it). */
  dataDirId(): string {
    return this.stmts.metaGet.get(DATA_DIR_ID)!.value
  }

  /** writeMark is the dir's write mark (meta `writeMark`; 0: never raised): see NodeMarkSchema. */
  writeMark(): number {
    return Number(this.stmts.metaGet.get(WRITE_MARK)?.value ?? 0)
  }

  /**
   * raiseWriteMark commits the write mark one higher and resolves with it once the commit is
   * durable (fsync'd, at synchronous NORMAL too): only then may the node publish it,
   * or a crash in between would leave the dir below its own published mark. Calls must not
   * overlap (the node makes one at a time). The new mark is also above `atLeast` (the mark
   * published before this process registered), so that a copy of the dir served after all
   * (--accept-empty-data, or while the node held nothing) leaves every older copy behind it.
   */
  async raiseWriteMark(atLeast = 0, forPurge = false): Promise<number> {
    const next = Math.max(this.writeMark(), atLeast) + 1
    // durable: fsync'd at --fsync normal too, or a power loss after the publish would leave an
    // intact dir below its mark and refused (test/node/writeMarkDurability.test.ts).
    const raise = () => this.writer.run<void>({op: 'meta', name: WRITE_MARK, value: String(next), durable: true})
    if (this.closed) throw new Error('storage engine is closed')
    // A raise a purge waits for (WriteMarkPublisher.cover) is part of freeing space: it may
    // spend the reserve on a full disk, as the purge after it does.
    await (forPurge ? this.freeing('a write mark raise before a tombstone purge', (txn) => txn(raise)) : raise())
    return next
  }

  /** metaValue returns the value stored under meta `name` (copy state, see {@link applyCopyBatch}), or undefined. */
  metaValue(name: string): string | undefined {
    const value = this.stmts.metaGet.get(name)?.value
    if (value !== undefined || this.stores.table.isEmpty) return value
    // A copy's state lives in the store of its last frame (StoreWriters.applyCopy); after a crash
    // while it moved, two may hold it, each a valid resume point of the copy (the older re-copies a frame).
    for (const s of this.stores.all()) {
      const v = s.reads.metaGet.get(name)?.value
      if (v !== undefined) return v
    }
    return undefined
  }

  /** setMetaValue stores (`value` given) or deletes (null) meta `name`; resolves once committed (`durable`: fsync'd, at synchronous NORMAL too). */
  setMetaValue(name: string, value: string | null, durable = false): Promise<void> {
    if (this.closed) return Promise.reject(new Error('storage engine is closed'))
    // Removing a value (a dropped copy's state, before its data goes) frees space: it must pass on a full disk too.
    if (value === null) return this.freeing('a copy state removal', (txn) => txn(() => this.writer.run<void>({op: 'meta', name, value, durable})))
    return this.writer.run<void>({op: 'meta', name, value, durable})
  }

  /** get returns the record stored for `key` (value or tombstone), or undefined. */
  get(key: Buffer): NodeRecord | undefined {
    const h = keyHash(key)
    const table = this.stores.table
    // No range store (every node today): the main file, as before; else the store serving h.
    const row = (table.isEmpty ? this.stmts : this.readsOf(table.storeOf(h))).get.get(h, key)
    return row ? toRecord(row) : undefined
  }

  /** readsOf is the reads of range store `store`, or of the main file (this connection) when undefined. */
  private readsOf(store: string | undefined): StoreReads {
    return store === undefined ? this.stmts : this.stores.store(store).reads
  }

  /** cellsOf is the digest cells of range store `store`, or the main file's (this thread's cache) when undefined. */
  private cellsOf(store: string | undefined): DigestCells {
    return store === undefined ? this.cells : this.stores.store(store).cells
  }

  /**
   * partsOf cuts `range` into the parts each store serves (SpanTable.parts): one main part,
   * the whole range, while the node has no range store, so every read below then runs
   * exactly as it did on one file.
   */
  private partsOf(range: HashRange): SpanPart[] {
    const table = this.stores.table
    return table.isEmpty ? [{lo: range.lo, hi: range.hi}] : table.parts(range)
  }

  /** rowsOver iterates the rows of `range` as raw arrays in (hash, key) order, each part from the store serving it. */
  private rowsOver(range: HashRange): Generator<[number, Buffer, string, Buffer | null]> {
    return rowsAcross(this.stores.table, this.storePages, range)
  }

  /** headsOver iterates the rows of `range` from the stores serving it (in hash order of the parts; each part's rows unordered). */
  private headsOver(range: HashRange): Iterable<Row & {len: number}> {
    const parts = this.partsOf(range)
    // One store (always, with no range store): its scan itself, as before.
    if (parts.length === 1) return this.readsOf(parts[0]!.store).heads.iterate(range.lo, range.hi)
    const reads = (p: SpanPart) => this.readsOf(p.store)
    return (function* () {
      for (const p of parts) yield* reads(p).heads.iterate(p.lo, p.hi)
    })()
  }

  /**
   * xorOver XORs the digest cells wholly inside [lo, hi) into `acc`, part by part from the
   * cells of the store serving each part, and calls `sliver` with that store's reads for the
   * slivers its cells cannot answer (DigestCells.xorWhole). The cells are XOR and sum cells,
   * so a range served by several stores aggregates as one. `stale` names the cells lagging
   * the rows (staleCells): a set for the main file alone, or per store with range stores.
   */
  private xorOver(lo: number, hi: number, acc: FineCell, sliver: (reads: StoreReads, from: number, to: number, cells: DigestCells) => void, stale?: StaleCells): void {
    if (this.stores.table.isEmpty) {
      this.cells.xorWhole(lo, hi, acc, (from, to) => sliver(this.stmts, from, to, this.cells), stale as ReadonlySet<number> | undefined)
      return
    }
    const byStore = stale instanceof Map ? stale : undefined
    for (const p of this.stores.table.parts({lo, hi})) {
      const reads = this.readsOf(p.store)
      const cells = this.cellsOf(p.store)
      cells.xorWhole(p.lo, p.hi, acc, (from, to) => sliver(reads, from, to, cells), byStore?.get(p.store))
    }
  }

  /**
   * scan returns records of `range` in (hash, key) order after `cursor` (from a previous
   * page), stopping once about `maxBytes` are collected (at least one record). Throws
   * RangeError for a malformed cursor or one outside `range`.
   */
  scan(range: HashRange, cursor: string | undefined, maxBytes: number): ScanPage {
    return scanStores(this.stores.table, this.storePages, range, cursor, maxBytes)
  }

  /** storePages gives the range scans of a store on this thread: the main file's (undefined) or a range store's. */
  private readonly storePages: StorePages = (store) => (store === undefined ? this.pageStatements() : this.stores.store(store).pages())

  private pageStatements(): CopyPageStatements {
    this.pageStmts ??= prepareCopyPageStatements(this.db)
    return this.pageStmts
  }

  /**
   * readCopyPage reads the page of `range` after `cursor` of about `maxBytes` that a copy
   * stream sends next, encoded as one record batch (see readCopyPage in copyPageReader.ts),
   * in the copy reader thread, so serving a copy never holds this thread's event loop for a
   * page's scan and encoding (with `writerThread: false`, here). With range stores, each part
   * is read from the store serving it (the thread follows the main file's table: copyReaderStores.ts).
   * Rejects with RangeError for a malformed cursor or one outside `range`.
   */
  readCopyPage(range: HashRange, cursor: string | undefined, maxBytes: number): Promise<CopyPage> {
    return this.offLoop(
      (reader) => reader.read(range, cursor, maxBytes),
      () => copyPageOf(this.scan(range, cursor, maxBytes)),
    )
  }

  /**
   * offLoop runs a read in the copy reader thread (`threaded`), or on this thread (`here`)
   * when the engine runs without threads; rejects once the engine is closed, and with
   * `threaded`'s or `here`'s error as a rejection, never a throw.
   */
  private offLoop<T>(threaded: (reader: CopyReader) => Promise<T>, here: () => T): Promise<T> {
    if (this.closed) return Promise.reject(new Error('storage engine is closed'))
    try {
      // Either may throw before it has a promise to give (a reader thread that cannot start): still a rejection.
      return this.copyReader ? threaded(this.copyReader) : Promise.resolve(here())
    } catch (err) {
      return Promise.reject(err)
    }
  }

  /**
   * digest returns the digest buckets of `range` (see digestLayout): whole fine buckets
   * come from the in-memory cells; the at most two fine buckets cut by the range's ends
   * are recomputed by scanning just those slivers. Tombstones whose version's wall clock
   * is before `tombstonesBefore` (when given) are left out, so replicas asked with the
   * same cutoff compare equal whatever their purge progress: a tombstone below the cutoff
   * and no record at all mean the same (nothing to read, nothing it still has to shadow
   * unless some replica holds an older value, which the digest does include).
   *
   * At a `format` other than the data dir's ({@link RECORD_HASH_FORMAT}: a peer of another
   * build asked for it during a rolling upgrade) the cells cannot serve it, so the whole
   * range is hashed from its rows: correct, and as slow as a scan of the shard.
   */
  digest(range: HashRange, tombstonesBefore?: number, format: RecordHashFormat = RECORD_HASH_FORMAT): RangeDigest {
    // One read transaction: every scan below sees one snapshot, and staleCells says which cached cells lag it.
    if (format !== RECORD_HASH_FORMAT) return this.inReadTransaction(() => this.digestFromRows(range, format, tombstonesBefore))
    return this.inReadTransaction(() => this.digestIn(range, this.staleCells(), tombstonesBefore))
  }

  /**
   * inReadTransaction runs `fn` in one read transaction on this connection and, with range
   * stores, one on each store's connection too (nested), so every read of `fn` sees one
   * snapshot of each file and staleCells judges each store's cells against its own.
   */
  private inReadTransaction<T>(fn: () => T): T {
    if (this.stores.table.isEmpty) return this.db.transaction(fn)()
    let run = fn
    for (const s of this.stores.all()) {
      const inner = run
      run = () => s.db.transaction(inner)()
    }
    return this.db.transaction(run)()
  }

  /** digestFromRows computes {@link digest} at `format` from every row of `range` (inside a read transaction), no cell used. */
  private digestFromRows(range: HashRange, format: RecordHashFormat, tombstonesBefore?: number): RangeDigest {
    const {bounds} = digestLayout(range)
    const heads = this.headsOver(range)
    if (tombstonesBefore === undefined) return {format, bounds, ...digestOfRows(bounds, heads, format)}
    let tombstonesExcluded = 0
    // Counted as they stream past, so the range is still scanned once.
    const kept = (function* () {
      for (const row of heads) {
        if (row.v === null && versionWall(row.ver) < tombstonesBefore) tombstonesExcluded++
        else yield row
      }
    })()
    const digest = digestOfRows(bounds, kept, format)
    return {format, bounds, ...digest, tombstonesExcluded}
  }

  /**
   * staleCells (inside a read transaction) names the cached fine cells that may lag the
   * transaction's snapshot: a commit of the writer thread is visible to this connection
   * as soon as it lands, but the cells take its changes only when its reply is handled, on
   * a later turn. When the snapshot is the one the cells were last synced with, none.
   */
  private staleCells(): StaleCells {
    this.stmts.snapshot.get() // starts the read transaction's snapshot
    if (this.stores.table.isEmpty) {
      if (this.dataVersion() === this.syncedVersion) return undefined
      return this.writer.inFlightCells()
    }
    // Per store (each read transaction begun by inReadTransaction): the cells of the request in
    // flight, in every store that has a commit the caches have not taken yet.
    const stale = new Map<string | undefined, ReadonlySet<number>>()
    let inFlight: ReadonlySet<number> | undefined
    const cellsInFlight = () => (inFlight ??= this.writer.inFlightCells())
    if (this.dataVersion() !== this.syncedVersion) stale.set(undefined, cellsInFlight())
    for (const [store, s] of this.storeEntries()) {
      s.snapshot()
      if (s.dataVersion() !== s.syncedVersion) stale.set(store, cellsInFlight())
    }
    return stale
  }

  /** storeEntries lists the open range stores by id. */
  private *storeEntries(): Generator<[string, RangeStore]> {
    for (const span of this.stores.table.spans()) yield [span.store, this.stores.store(span.store)]
  }

  private dataVersion(): number {
    return Number(this.stmts.dataVersion.get())
  }

  private digestIn(range: HashRange, stale: StaleCells, tombstonesBefore?: number): RangeDigest {
    const layout = digestLayout(range)
    const buckets: string[] = []
    const counts: number[] = []
    for (let b = 0; b + 1 < layout.bounds.length; b++) {
      const acc: FineCell = {xhi: 0, xlo: 0, n: 0, bytes: 0}
      this.xorOver(layout.bounds[b] ?? 0, layout.bounds[b + 1] ?? 0, acc, (reads, from, to) => {
        for (const row of reads.heads.iterate(from, to)) {
          const [a, c] = recordHash(row.k, row.ver, row.v)
          acc.xhi = (acc.xhi ^ a) >>> 0
          acc.xlo = (acc.xlo ^ c) >>> 0
          acc.n++
        }
      }, stale)
      buckets.push(hex32(acc.xhi) + hex32(acc.xlo))
      counts.push(acc.n)
    }
    const format = RECORD_HASH_FORMAT
    if (tombstonesBefore === undefined) return {format, bounds: layout.bounds, buckets, counts}
    const tombstonesExcluded = this.excludeTombstones(range, tombstonesBefore, layout.bounds, buckets, counts)
    return {format, bounds: layout.bounds, buckets, counts, tombstonesExcluded}
  }


  /** excludeTombstones XORs out of `buckets` (and `counts`) every tombstone of `range` older than `before`; returns how many. */
  private excludeTombstones(range: HashRange, before: number, bounds: readonly number[], buckets: string[], counts: number[]): number {
    const hi = buckets.map((b) => Number.parseInt(b.slice(0, 8), 16))
    const lo = buckets.map((b) => Number.parseInt(b.slice(8), 16))
    let excluded = 0
    for (const p of this.partsOf(range)) for (const row of this.readsOf(p.store).tombstonesBefore.iterate(before, p.lo, p.hi)) {
      const b = bucketOf(bounds, row.h)
      const [a, c] = recordHash(row.k, row.ver, null)
      hi[b] = (hi[b]! ^ a) >>> 0
      lo[b] = (lo[b]! ^ c) >>> 0
      counts[b]!--
      excluded++
    }
    if (excluded > 0) for (let b = 0; b < buckets.length; b++) buckets[b] = hex32(hi[b]!) + hex32(lo[b]!)
    return excluded
  }

  /**
   * staleFloor is the oldest version wall clock (ms) this node still takes as a fresh
   * client write: its clock (never going backwards) minus the tombstone grace. The node
   * refuses client values older than this, and a purge cutoff newer than this is clamped
   * to it — together they make "no value older than the cutoff arrives after the digest
   * that confirmed it" hold (see purgeTombstones).
   */
  staleFloor(): number {
    this.maxClock = Math.max(this.maxClock, this.clock())
    return this.maxClock - this.graceMs
  }

  /**
   * cutoffLimit is the newest tombstone cutoff this node takes for a digest or a fence:
   * its stale floor minus twice the maximum clock offset. With one grace cluster-wide and
   * every clock within the bound, every node's stale floor — a joining replica's too, now
   * and later — is at or above such a cutoff, so no node takes a client write older than it.
   * The agreed cutoff is the oldest of the replicas' limits, so differing graces are safe
   * among the current replicas. A node that joins later adopts its copy source's gc floor
   * ({@link adoptFloors}), so its own grace does not matter for the shard's purged history;
   * repairShards still purges only while every alive node publishes one grace
   * (repair/graceCheck.ts), for a source of an older build that sends no floor.
   */
  cutoffLimit(): number {
    return this.staleFloor() - 2 * this.maxOffsetMs
  }

  /**
   * listBuckets lists the records of the asked digest buckets of `range` (distinct,
   * ascending; indexes beyond the layout hold nothing), tombstones included, as one record
   * batch read in one read transaction (one snapshot), in the copy reader thread: a listing
   * can hold most of a shard, and reading it here would stall every client request this
   * node serves for as long (with `writerThread: false`, here). With `maxBytes` it stops
   * after the bucket during which the batch reached it (whole buckets, at least one) and
   * says how many it answered (see readBucketListing). Rejects with the read's error, or
   * Error once the engine is closed.
   */
  listBuckets(range: HashRange, buckets: readonly number[], maxBytes?: number): Promise<BucketListing> {
    return this.offLoop(
      (reader) => reader.listBuckets(range, buckets, maxBytes),
      () => readBucketListing(this.db, {iterate: (lo, hi) => this.rowsOver({lo, hi})}, range, buckets, maxBytes),
    )
  }

  /** rangeTotals counts records and bytes in `range` (exact: slivers at unaligned ends are counted by a scan). */
  rangeTotals(range: HashRange): RangeTotals {
    return this.rangeTotalsMany([range])[0] ?? {keys: 0, bytes: 0}
  }

  /**
   * rangeTotalsMany is {@link rangeTotals} for each of `ranges`, in one read transaction: one
   * snapshot and one stale-cells check for all of them. A node publishing its stats sizes
   * every replica it holds (25k at 100k shards): one transaction each cost about 1 s of CPU.
   */
  rangeTotalsMany(ranges: readonly HashRange[]): RangeTotals[] {
    return this.inReadTransaction(() => {
      const stale = this.staleCells()
      return ranges.map((range) => {
        const acc: FineCell = {xhi: 0, xlo: 0, n: 0, bytes: 0}
        this.xorOver(range.lo, range.hi, acc, (reads, from, to) => {
          const t = reads.totals.get(from, to)
          acc.n += t?.n ?? 0
          acc.bytes += t?.bytes ?? 0
        }, stale)
        return {keys: acc.n, bytes: acc.bytes}
      })
    })
  }

  /**
   * ackedRangeTotalsMany is {@link rangeTotalsMany} as of the writes acknowledged so far:
   * whole fine cells come from the main thread's cell cache as it is (no read transaction,
   * no catching up with a commit whose reply is not handled yet), so it costs O(log cells)
   * per range plus the scans of the slivers at unaligned ends. It differs from the exact
   * figure only by a transaction the writer committed whose writes nobody was told about
   * yet. For the figures read on the event loop while clients wait (metrics, `/v1/stats`,
   * stats publishes): the exact form catches up by scanning every cell a drop in flight
   * covers, which stalled the event loop during a range cleanup.
   */
  ackedRangeTotalsMany(ranges: readonly HashRange[]): RangeTotals[] {
    return ranges.map((range) => {
      const acc: FineCell = {xhi: 0, xlo: 0, n: 0, bytes: 0}
      this.xorOver(range.lo, range.hi, acc, (reads, from, to, cells) => {
        // A sliver lies inside one cell: when that cell held no acknowledged record, neither
        // does the sliver, as of the acknowledged writes. Skipping the scan matters at scale:
        // with 100k shards most ranges are narrower than a cell, so a node's first stats
        // publish ran a query per held shard (about 0.3 s of CPU at 25k held, empty or not).
        if (cells.count(fineOf(from)) === 0) return
        const t = reads.totals.get(from, to)
        acc.n += t?.n ?? 0
        acc.bytes += t?.bytes ?? 0
      })
      return {keys: acc.n, bytes: acc.bytes}
    })
  }

  /** totals counts every record and byte stored. */
  totals(): RangeTotals {
    if (this.stores.table.isEmpty) return this.cells.totals(0, FINE_COUNT - 1)
    // Each store counted over the hashes it serves only.
    return this.ackedRangeTotalsMany([{lo: 0, hi: HASH_SPACE}])[0]!
  }

  /**
   * purgeTombstones deletes up to `limit` tombstones of `range` whose version's wall clock
   * is before `before`, in one transaction, keeping digests in step. Returns how many it
   * deleted (call again while it returns `limit`).
   *
   * The caller must know it is safe, and only anti-entropy does (repairShards, through the
   * node's `gc` endpoint, after {@link fencePending} on every replica of the shard at one
   * epoch returned equal digests and every one was confirmed: {@link confirmFence}; or
   * {@link fenceBelow}, for a requester of an older build). Why purging then never undoes
   * an acknowledged delete D
   * (a tombstone with version v < `before`) — i.e. no replica holds, nor later gains, a
   * value V of the same key with version u < v, which a quorum read could return once D
   * is gone:
   *
   * 1. From its fence on, a replica gains no value older than `before`. Between a pending
   *    fence ({@link fencePending}) and its confirm, gaining one drops the fence and its
   *    confirm is refused, so the round purges nothing (a fence without `pending`, from a
   *    requester of an older build, is the floor at once); from the confirm on, the floor
   *    holds it off: client writes
   *    (values and tombstones) older than its {@link staleFloor} are refused with an error,
   *    the fence cutoff is never newer than {@link cutoffLimit} (that floor minus twice the
   *    clock bound, so with one grace cluster-wide every in-bounds node's floor, a later
   *    joining replica's included, is above it; repairShards purges only while every
   *    alive node publishes the same grace), and the floor never goes backwards (the
   *    clock is taken as a running maximum, and the persisted gc floor counts too); repair
   *    values below the gc floor are dropped ({@link withoutFenced}); the shard is only
   *    purged with no move running, and a copy comes from a fenced replica whose floor the
   *    destination adopts before the copy's first frame ({@link adoptFloors}: a later
   *    replica never holds a value below it that the source did not). Apply stores every
   *    tombstone it takes.
   * 2. So after its fence, the values older than `before` a replica holds are a subset of
   *    those its fence digest covered. Equal fence digests mean: V was held by every
   *    replica at its fence, or by none.
   * 3. If by none, no replica ever holds V again. If by all, no replica held D at its fence
   *    (LWW keeps one record per key), D was never acknowledged before — the replicas that
   *    acknowledged it would still hold it or something newer — and D cannot arrive later:
   *    as a client write it is older than every replica's stale floor (refused), and repair
   *    only moves records some replica holds. So there is no D to purge.
   *
   * Tombstones below the cutoff and absent keys are then equivalent on every replica, which
   * is why digests may leave them out ({@link digest}). The clock bound only affects
   * liveness: the requester starts its cutoff at its clock minus twice the maximum offset
   * and each replica lowers it to its clock minus the grace; they agree on the oldest.
   */
  purgeTombstones(range: HashRange, before: number, limit = 1000): Promise<number> {
    if (this.closed) return Promise.reject(new Error('storage engine is closed'))
    return this.freeing('a tombstone purge', (txn) => txn(() => this.writer.run<number>({op: 'purge', range, before, limit}, 'purge')))
  }

  /**
   * spendingReserve is true while an operation that frees space runs after one of its
   * transactions found no room (see {@link freeing}): client writes and copies are refused
   * meanwhile (StorageFullError, as on a full disk), and the node does not make its reserve
   * again under it.
   */
  spendingReserve(): boolean {
    return this.strained > 0
  }

  /**
   * freeing runs `body`, an operation that frees space and so must finish on a full disk
   * (deletes need room for their WAL frames too), giving it `txn` to run each of its writer
   * transactions with: one refused with StorageFullError is retried as onFreeingFull says
   * (after the node gave its reserve up, or after a WAL checkpoint so the next commit
   * restarts the WAL and reuses its file's own space), at most once per step, so it ends.
   * From the first refusal until `body` ends, client writes and copies are refused
   * ({@link spendingReserve}): the space the reserve gave back is for the deletes, not
   * for new data. What a retried transaction commits is exactly what it would have: a
   * refused transaction rolled back whole.
   */
  private async freeing<T>(what: string, body: (txn: <R>(run: () => Promise<R>) => Promise<R>) => Promise<T>): Promise<T> {
    let strained = false
    const txn = async <R>(run: () => Promise<R>): Promise<R> => {
      let checkpointed = false
      for (;;) {
        try {
          return await run()
        } catch (err) {
          if (!(err instanceof StorageFullError) || !this.onFreeingFull || this.closed) throw err
          if (!strained) {
            strained = true
            this.strained++
          }
          const step = await this.onFreeingFull(what, checkpointed)
          if (step === 'fail') throw err
          if (step === 'checkpoint') {
            checkpointed = true
            await this.writer.run<WalCheckpoint>({op: 'checkpoint'}).catch(() => undefined)
          }
        }
      }
    }
    try {
      return await body(txn)
    } finally {
      if (strained) this.strained--
    }
  }

  /**
   * deleteRange removes every record of `range` (a shard's copy being dropped) in many
   * short writer transactions, so writes queued meanwhile commit between them and a large
   * drop stalls neither the event loop nor other shards' writes. Returns the number of
   * records deleted; 0 when the range was already empty.
   *
   * Small rows are deleted in table (rowid) order, in transactions sized to hold the writer
   * about DROP_BUDGET's target each, commit included (nextDropBudget): rows
   * sit in the table in arrival order, random in hash, so deleting by hash range dirtied
   * a different table page per row and every commit rewrote most of the table's pages
   * into the WAL again (1M 40-byte keys took 144 s; in rowid order each page is written
   * by one commit). Rows of BIG_ROW_BYTES and more fill their own pages, so they go by
   * hash range, in slices of DELETE_SLICE_MS. Either way a final sweep by hash range
   * takes anything that arrived after the ids were read.
   *
   * `keepGoing` is asked before every transaction (a retry after a full-disk refusal
   * included: see {@link freeing}); when it says no (the node holds the
   * range again: a shard moved back while its old copy was being dropped), the drop stops
   * with RangeDropStoppedError. Asking in the same turn as the next transaction is queued
   * is what keeps new data safe: a write to the range is only accepted once the node's
   * shard map holds it again, so it is queued either after a transaction that was queued
   * before the map changed (and deletes only older rows), or after `keepGoing` saw the
   * change and stopped.
   */
  deleteRange(range: HashRange, keepGoing: () => boolean = () => true): Promise<number> {
    return this.freeing('a shard data drop', (txn) => this.deleteRangeIn(range, keepGoing, txn)).then((deleted) => {
      if (deleted > 0) this.returnFreeSpace()
      return deleted
    })
  }

  /**
   * returnFreeSpace gives the database file's free pages back to the file system in the
   * background (one give-back at a time; a drop ending during one runs another after it),
   * and resolves when the give-back it started or joined has ended. A drop frees pages
   * inside the file; without this the file system stayed as full after a node was drained
   * as before (src/node/README.md, "Where the space goes"). Each transaction gives back
   * {@link FREE_PAGES_PER_TXN} pages through the writer queue, so writes interleave; the
   * file is cut at the checkpoint that follows. It stops when no free page is left, when a
   * transaction leaves no fewer than the one before (writes are taking them again), on any
   * error (a full disk: tried again after the next drop) and when the engine closes. Never
   * rejects.
   */
  returnFreeSpace(): Promise<void> {
    if (this.closed) return Promise.resolve()
    if (this.givingBack) {
      this.giveBackAgain = true
      return this.givingBack
    }
    const run = this.returnFreePages()
      .catch(() => undefined)
      .finally(() => {
        this.givingBack = undefined
        if (this.giveBackAgain && !this.closed) {
          this.giveBackAgain = false
          void this.returnFreeSpace()
        }
      })
    this.givingBack = run
    return run
  }

  private async returnFreePages(): Promise<void> {
    let left = Infinity
    while (!this.closed) {
      const r = await this.wrote(this.writer.run<{freePages: number}>({op: 'returnFreePages', pages: FREE_PAGES_PER_TXN}), FREE_PAGES_PER_TXN * this.pageSize, this.synchronousFull)
      if (r.freePages === 0 || r.freePages >= left) break
      left = r.freePages
    }
    // The file is cut when a checkpoint copies the WAL's last frame: ask for one now rather than
    // at the next copy's. One may find the checkpoint lock held (a background checkpoint) or a
    // reader's snapshot in the way: try a few times, then leave it to the next checkpoint.
    for (let attempt = 0; attempt < FINAL_CHECKPOINT_ATTEMPTS && !this.closed; attempt++) {
      await this.walTask
      const c = await this.writer.run<WalCheckpoint>({op: 'checkpoint'})
      if (c.log >= 0 && c.checkpointed >= c.log) return
      await new Promise((resolve) => setTimeout(resolve, FINAL_CHECKPOINT_RETRY_MS))
    }
  }

  /** deleteRangeIn is {@link deleteRange}, each of its write transactions run through `txn` (see {@link freeing}). */
  private async deleteRangeIn(range: HashRange, keepGoing: () => boolean, txn: <R>(run: () => Promise<R>) => Promise<R>): Promise<number> {
    const stop = (deleted: number) => {
      if (!keepGoing()) throw new RangeDropStoppedError(deleted)
    }
    let deleted = 0
    // Every transaction, a retry after a full-disk refusal included, asks keepGoing in the turn
    // it is queued: between a refusal and its retry the shard may have come back and a write to
    // it committed (the writer runs the next queued write at once), which the retry must not delete.
    const step = <R>(run: () => Promise<R>): Promise<R> =>
      txn(() => {
        stop(deleted)
        return run()
      })
    stop(0)
    await this.clearFloors(range, step)
    // The id pass runs per part in the store serving it (row ids are per file); with no range
    // store, one part: the whole range in the main file, as before.
    for (const part of this.partsOf(range)) {
      if (this.averageRowBytes(part) >= BIG_ROW_BYTES) continue
      const where = part.store === undefined ? {} : {store: part.store}
      const of = {lo: part.lo, hi: part.hi}
      const lists: Float64Array[] = []
      for (let from = fineOf(of.lo); from >= 0 && !this.closed; ) {
        const page = await this.writer.run<{ids: Float64Array; next: number}>({op: 'rangeRowIds', range: of, from, maxRows: DROP_IDS_PER_READ, ...where})
        lists.push(page.ids)
        from = page.next
      }
      const ids = new Float64Array(lists.reduce((n, p) => n + p.length, 0))
      lists.reduce((at, p) => (ids.set(p, at), at + p.length), 0)
      ids.sort()
      let budget = DROP_BUDGET.minRows
      for (let i = 0; i < ids.length && !this.closed; ) {
        // slice, not subarray: a posted view would copy its whole buffer to the writer thread.
        const chunk = ids.slice(i, i + budget)
        const done = await step(() => this.writer.run<{deleted: number; used: number; seconds: number}>({op: 'deleteRows', range: of, ids: chunk, sliceMs: DROP_SLICE_MS, minIds: DROP_BUDGET.minRows, ...where}, 'purge', chunk.length))
        deleted += done.deleted
        i += Math.max(1, done.used)
        budget = nextDropBudget(DROP_BUDGET, budget, done.used, done.seconds)
      }
    }
    // Then slices, routed by the writer's table, delete whatever is left (the rows of big-row parts, writes racing the id pass).
    for (let from = fineOf(range.lo); from >= 0 && !this.closed; ) {
      const slice = await step(() => this.writer.run<{deleted: number; next: number}>({op: 'deleteSlice', range, from, sliceMs: DELETE_SLICE_MS}, 'purge'))
      deleted += slice.deleted
      from = slice.next
    }
    return deleted
  }

  /** averageRowBytes is the mean size (key + value) of the records of `part`, from the digest cells of the store serving it over the fine buckets it touches (0: none). */
  private averageRowBytes(part: SpanPart): number {
    const cells = this.cellsOf(part.store)
    let n = 0
    let bytes = 0
    for (let f = fineOf(part.lo); f <= fineOf(part.hi - 1); f++) {
      const c = cells.cell(f)
      n += c.n
      bytes += c.bytes
    }
    return n === 0 ? 0 : bytes / n
  }

  /**
   * fenceBelow (a gc fence from a requester of an older build, which confirms nothing: see
   * {@link fencePending} for this build's) sets the gc floor of `range` to `before` (never lowering it) and returns the
   * digest of the range's values older than `before` ({@link oldValuesDigest}), after
   * every apply queued before it committed (the writer runs in queue order). From the call
   * on, {@link withoutFenced} drops values older than the floor in that range, so the
   * replica can no longer gain a value older than `before`: the digest it returns covers
   * every such value it will ever hold (until the range is dropped); it can only lose some
   * to newer writes. Rejects with RangeError when `before` is newer than {@link cutoffLimit}.
   */
  async fenceBelow(range: HashRange, before: number, format: RecordHashFormat = RECORD_HASH_FORMAT): Promise<RangeDigest> {
    this.refuseNewCutoff(before)
    // Persisting the floors also waits for every apply queued before this call.
    await this.raiseFloor(range, before, true)
    return this.oldValuesDigest(range, before, format)
  }

  /** refuseNewCutoff throws RangeError when `before` is newer than {@link cutoffLimit}: no fence may be set there. */
  private refuseNewCutoff(before: number): void {
    const limit = this.cutoffLimit()
    if (before > limit) throw new RangeError(`cutoff ${before} is newer than this node's clock minus its tombstone grace and twice the clock offset bound (${limit})`)
  }

  /**
   * raiseFloor raises the gc floor of exactly `range` to `before` (never lowering it) and
   * resolves once the floors are persisted. `forPurge`: a gc fence's floor, which a tombstone
   * purge waits for; it may spend the reserve on a full disk ({@link freeing}), or no purge
   * could ever free one.
   */
  private async raiseFloor(range: HashRange, before: number, forPurge = false): Promise<void> {
    const current = this.floors.find((f) => f.lo === range.lo && f.hi === range.hi)
    if (!current) this.floors.push({lo: range.lo, hi: range.hi, floor: before})
    else if (current.floor < before) current.floor = before
    const persist = () => this.writer.run<void>({op: 'floors', floors: this.floors.map((f) => ({...f}))})
    await (forPurge ? this.freeing('a gc fence before a tombstone purge', (txn) => txn(persist)) : persist())
  }

  /**
   * writesQueuedBefore resolves once every write queued before the call has committed (or
   * failed): the writer runs in queue order, and this queues a request that writes nothing.
   * A client write is queued in the same turn its version passed the write screen, so what
   * it waits for includes every write screened before the call (see NodeHttpApi.digest).
   */
  writesQueuedBefore(): Promise<void> {
    if (this.closed) return Promise.reject(new Error('storage engine is closed'))
    return this.writer.run<void>({op: 'barrier'})
  }

  /**
   * fencePending is {@link fenceBelow} for a round that confirms its fence before it purges
   * (repairShards): it raises no floor. It records a pending fence of `range` at `before`
   * and returns its id with the digest of the range's values older than `before`, after
   * every apply queued before it committed. The fence stays held while the replica gains no
   * value older than `before` in the range; any apply or copy queued from this call on that
   * brings one (whatever its kind: a late read repair, a repair, a copy) drops it, and
   * {@link confirmFence} then refuses it. So a held fence's digest covers every value older
   * than `before` the replica holds. Nothing is refused meanwhile: a round whose fence
   * digests differ (a write raced the fence) leaves no floor behind, and the next round's
   * repair can bring the raced write to the replica that lacks it (session 33,
   * test/repair/racedFenceHeal.inProcess.test.ts); a floor only ever screens after a
   * confirm, which is what a purge relies on. Rejects with RangeError when `before` is newer
   * than {@link cutoffLimit}.
   */
  async fencePending(range: HashRange, before: number, format: RecordHashFormat = RECORD_HASH_FORMAT): Promise<{fence: number; digest: RangeDigest}> {
    this.refuseNewCutoff(before)
    // Random: an id handed out before a restart never names a fence set after it.
    const fence: PendingFence = {id: randomInt(2 ** 47), lo: range.lo, hi: range.hi, before}
    this.pending.push(fence)
    const mine = this.pending.filter((f) => f.lo === range.lo && f.hi === range.hi)
    if (mine.length > MAX_PENDING_FENCES) this.pending = this.pending.filter((f) => f !== mine[0])
    await this.writesQueuedBefore()
    return {fence: fence.id, digest: this.oldValuesDigest(range, before, format)}
  }

  /**
   * confirmFence makes the pending fence `fence` of `range` at `before` ({@link fencePending})
   * a gc floor, as {@link fenceBelow} sets one (never lowering it, persisted), and resolves
   * once it is persisted; from the call on, client writes and repair values older than it
   * are refused and dropped. Rejects with RangeError, changing nothing, when that fence is
   * not held: the replica gained a value older than `before` since it (its digest no longer
   * covers what it holds), it restarted, or the fence was forgotten (MAX_PENDING_FENCES, a
   * drop of the range). A round purges only once every replica confirmed.
   */
  async confirmFence(range: HashRange, before: number, fence: number): Promise<void> {
    if (this.closed) throw new Error('storage engine is closed')
    const held = this.pending.find((f) => f.id === fence && f.lo === range.lo && f.hi === range.hi && f.before === before)
    if (!held) throw new RangeError(`no held fence ${fence} at ${before}: the node took a value older than the cutoff since its fence (a write raced the fence), restarted, or dropped the range`)
    this.pending = this.pending.filter((f) => f !== held)
    await this.raiseFloor(range, before, true)
  }

  /** pendingFencesOf lists the cutoffs of the held pending fences of exactly `range` (oldest first). */
  pendingFencesOf(range: HashRange): number[] {
    return this.pending.filter((f) => f.lo === range.lo && f.hi === range.hi).map((f) => f.before)
  }

  /** dropBrokenFences removes every pending fence that `records` bring a value older than (called in the turn they are queued). */
  private dropBrokenFences(records: readonly NodeRecord[]): void {
    if (this.pending.length === 0) return
    // Client writes are fresh and cutoffs a grace old: one comparison per record, not one per pending fence. Rounds
    // that gave up leave their fences held (up to MAX_PENDING_FENCES a range), so a node of many shards may hold thousands.
    let newest = -Infinity
    for (const f of this.pending) newest = Math.max(newest, f.before)
    for (const r of records) {
      if (r.value === null) continue
      const wall = versionWall(r.version)
      if (wall >= newest) continue
      const h = keyHash(r.key)
      if (this.pending.some((f) => h >= f.lo && h < f.hi && wall < f.before)) this.pending = this.pending.filter((f) => !(h >= f.lo && h < f.hi && wall < f.before))
      if (this.pending.length === 0) return
    }
  }

  /**
   * oldValuesDigest is the digest (same layout as {@link digest}) of the values of `range`
   * whose version's wall clock is before `before`, tombstones left out. Fresh writes do
   * not change it, so replicas compare equal on it under load. Scans the range, so any
   * `format` costs the same.
   */
  oldValuesDigest(range: HashRange, before: number, format: RecordHashFormat = RECORD_HASH_FORMAT): RangeDigest {
    const {bounds} = digestLayout(range)
    const parts = this.partsOf(range)
    const rows = parts.length === 1 ? this.readsOf(parts[0]!.store).oldValues.iterate(range.lo, range.hi, before) : parts.flatMap((p) => this.readsOf(p.store).oldValues.all(p.lo, p.hi, before))
    return {format, bounds, ...digestOfRows(bounds, rows, format)}
  }

  /**
   * adoptFloors makes the gc floors a copy's source holds over `range` (`floors`, from its
   * stream's GC_FLOORS_HEADER; clipped to `range` here) this node's own: each raises the
   * floor of its part of the range (never lowering one) and is persisted in gc_floor, so
   * from this call on, and across a restart, the node refuses client writes (a hint's
   * replay included) older than it and drops repair values older than it, as the source
   * does. Unlike {@link fenceBelow}, a floor above this node's {@link cutoffLimit} is taken:
   * the source set it under its own grace, and a longer grace here is exactly what must not
   * let an older value in (see CopyPuller.adoptSourceFloors).
   *
   * With `dropValuesBelow`, the values (never tombstones) of `range` older than the adopted
   * floors are deleted in the same transaction. The in-memory floors change in the turn the
   * request is queued, and the writer's queue is FIFO, so every apply screened before this
   * call is committed before the deletion (and deleted if that old), and every apply
   * screened after it is refused or dropped by the new floors: no value that old survives
   * the call, whichever way it raced. Resolves to how many values were deleted.
   *
   * A floor newer than this node's clock plus the clock bound is refused (RangeError, nothing
   * changed): a source within the bound fences at most its clock minus its grace minus twice
   * the bound, so such a floor is a corrupt header or a source clock far off, and taking it
   * would refuse every fresh write to the range and, with `dropValuesBelow`, delete the
   * acknowledged values it holds.
   */
  async adoptFloors(range: HashRange, floors: readonly GcFloor[], dropValuesBelow = false): Promise<number> {
    if (this.closed) throw new Error('storage engine is closed')
    const inside = floorsOver(floors, range)
    if (inside.length === 0) return 0
    const newest = this.clock() + this.maxOffsetMs
    const future = inside.find((f) => f.floor > newest)
    if (future) throw new RangeError(`gc floor ${future.floor} over [${future.lo}, ${future.hi}) is newer than this node's clock plus the ${this.maxOffsetMs} ms clock bound (${newest}): no source within the bound fences that late`)
    for (const f of inside) {
      const current = this.floors.find((c) => c.lo === f.lo && c.hi === f.hi)
      if (!current) this.floors.push({...f})
      else if (current.floor < f.floor) current.floor = f.floor
    }
    return this.writer.run<number>({op: 'floors', floors: this.floors.map((f) => ({...f})), ...(dropValuesBelow ? {dropValuesBelow: inside} : {})})
  }

  /** floorsOver is this node's gc floors over `range`, clipped to it (what a copy stream of `range` tells its destination: GC_FLOORS_HEADER). */
  floorsOver(range: HashRange): GcFloor[] {
    return floorsOver(this.floors, range)
  }

  /** fenceOf is the gc floor set for exactly `range` (0 when it was never fenced). */
  fenceOf(range: HashRange): number {
    return this.floors.find((f) => f.lo === range.lo && f.hi === range.hi)?.floor ?? 0
  }

  /** floorOf is the gc floor at hash `h`: the largest floor of a fenced range holding it (0: none). */
  floorOf(h: number): number {
    let floor = 0
    for (const f of this.floors) if (h >= f.lo && h < f.hi && f.floor > floor) floor = f.floor
    return floor
  }

  /**
   * withoutFenced returns `records` minus the values older than the gc floor at their key
   * (tombstones always pass). Apply repair and read-repair batches through it: such a
   * value is one a purged (or being purged) tombstone shadowed, coming back from a replica
   * that had not yet seen the delete. Client writes that old are refused before this
   * (staleFloor and the gc floor), and a copy stream into a joining replica comes from a
   * replica whose own floor it adopted first ({@link adoptFloors}) and is not screened: a
   * value that source holds below a floor some purge used was held by every replica at
   * that purge's fence. A floor is a confirmed fence ({@link confirmFence}), one set by a
   * requester of an older build ({@link fenceBelow}), or one adopted from a copy's source;
   * a floor on disk is one of those, whatever build wrote it. Until session 33 every fence
   * was a floor at once, and one whose digests differed (a write raced the fence) purged
   * nothing but left its floor: a write committed on some replicas after anti-entropy's
   * digests and refused by this one below it stayed on the replicas that took it, this one
   * never took it, and anti-entropy found the shard apart (so never purged it) until the
   * key was written again (test/repair/racedFenceHeal.inProcess.test.ts). Such a round now
   * confirms nothing, so it leaves no floor and the next round's repair heals the shard; a
   * data dir those builds left in that state keeps its floors (nothing tells which purge,
   * if any, relied on one) and stays apart until the key is written again.
   */
  withoutFenced(records: readonly NodeRecord[]): readonly NodeRecord[] {
    if (this.floors.length === 0) return records
    return records.filter((r) => r.value === null || versionWall(r.version) >= this.floorOf(keyHash(r.key)))
  }

  /**
   * forgetValuesBefore deletes, in one transaction, the values (never tombstones) of each of
   * `ranges` whose version's wall clock is older than `before`, and removes the gc floors
   * over those ranges (keeping the parts outside them), so that repair can bring back the
   * live ones the other replicas hold (a floor would drop them as older than it). Resolves
   * to how many values were deleted. For a dir served under --accept-empty-data while the
   * node holds replicas (see restoredDirRanges.ts): such a dir may hold values whose deletes
   * the other replicas purged since, and nothing here tells them apart from live ones.
   * Client writes stay screened by {@link staleFloor}, which is at least `before` when
   * `before` is taken from it.
   */
  async forgetValuesBefore(ranges: readonly HashRange[], before: number): Promise<number> {
    if (this.closed) throw new Error('storage engine is closed')
    if (ranges.length === 0) return 0
    let floors = this.floors
    for (const r of ranges) floors = floorsOutside(floors, r)
    this.floors = floors
    this.pending = this.pending.filter((f) => ranges.every((r) => f.hi <= r.lo || f.lo >= r.hi))
    return this.writer.run<number>({op: 'floors', floors: this.floors.map((f) => ({...f})), dropValuesBelow: ranges.map((r) => ({lo: r.lo, hi: r.hi, floor: before}))})
  }

  /** clearFloors removes the gc floors over `range` (its data is being dropped; a later copy starts afresh), keeping those parts outside it. */
  private async clearFloors(range: HashRange, txn: <R>(run: () => Promise<R>) => Promise<R>): Promise<void> {
    const next = floorsOutside(this.floors, range)
    // A pending fence over the range is forgotten: the range's data goes, and so does what its digest covered.
    this.pending = this.pending.filter((f) => f.hi <= range.lo || f.lo >= range.hi)
    if (next.length === this.floors.length && next.every((f, i) => f === this.floors[i])) return
    this.floors = next
    // The floors as they are at each attempt: a retry after a full-disk refusal comes later, and
    // another drop or a fence may have changed them meanwhile (every floors write is the whole set).
    await txn(() => this.writer.run<void>({op: 'floors', floors: this.floors.map((f) => ({...f}))}))
  }

  /** close commits every queued write, stops the writer thread and closes the database. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    // A give-back stops after its transaction in flight (it checks closed).
    await this.givingBack
    // A sync in flight must end before its descriptor closes (a closed fd number may be reused).
    await this.walTask
    await this.copyReader?.close()
    await this.writer.close()
    this.db.close()
    this.stores.close()
    // Only now: closing a descriptor of the database file drops the process's POSIX locks on it (FileSyncer).
    this.walSyncer.close()
    this.dbSyncer.close()
  }
}

/** badVersion is the RangeError for the first record whose version is not a formatHlc string, if any. */
function badVersion(records: readonly NodeRecord[]): RangeError | undefined {
  for (const r of records) {
    if (!parseHlc(r.version)) return new RangeError(`invalid record version ${JSON.stringify(r.version.slice(0, 100))}`)
  }
  return undefined
}

/**
 * digestOfRows returns the digest buckets (and record counts) over `bounds` of exactly
 * `rows`: each row's record hash at `format` XORed into the bucket holding its hash, read
 * from the rows alone, with no digest cell. The caller picks the rows (a whole range, its
 * old values), so every row-scanned digest hashes and buckets records the same way.
 */
function digestOfRows(bounds: readonly number[], rows: Iterable<Row>, format: RecordHashFormat): {buckets: string[]; counts: number[]} {
  const hi = new Array<number>(bounds.length - 1).fill(0)
  const lo = new Array<number>(bounds.length - 1).fill(0)
  const counts = new Array<number>(bounds.length - 1).fill(0)
  for (const row of rows) {
    const b = bucketOf(bounds, row.h)
    const [a, c] = recordHashAt(format, row.k, row.ver, row.v)
    hi[b] = (hi[b]! ^ a) >>> 0
    lo[b] = (lo[b]! ^ c) >>> 0
    counts[b]!++
  }
  return {buckets: hi.map((x, i) => hex32(x) + hex32(lo[i]!)), counts}
}

/** bucketOf returns the digest bucket whose [bounds[i], bounds[i+1]) holds `h` (bounds ascending, h inside). */
function bucketOf(bounds: readonly number[], h: number): number {
  let lo = 0
  let hi = bounds.length - 2
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1
    if (bounds[mid]! <= h) lo = mid
    else hi = mid - 1
  }
  return lo
}

function toRecord(row: Row): NodeRecord {
  return {key: row.k, version: row.ver, value: row.v}
}

function hex32(n: number): string {
  return (n >>> 0).toString(16).padStart(8, '0')
}

/** keyCopies returns `records` with each key copied into a buffer of its own (version kept; values left out: only keys and versions are read from them). */
function keyCopies(records: readonly NodeRecord[]): NodeRecord[] {
  return records.map((r) => ({key: Buffer.from(r.key), version: r.version, value: null}))
}

/** floorsOutside is `floors` minus their parts inside `range` (untouched floors are the same objects). */
function floorsOutside(floors: readonly GcFloor[], range: HashRange): GcFloor[] {
  const next: GcFloor[] = []
  for (const f of floors) {
    if (f.hi <= range.lo || f.lo >= range.hi) next.push(f)
    else {
      if (f.lo < range.lo) next.push({lo: f.lo, hi: range.lo, floor: f.floor})
      if (f.hi > range.hi) next.push({lo: range.hi, hi: f.hi, floor: f.floor})
    }
  }
  return next
}
