import Database from 'better-sqlite3'
import {keyHash} from '../model/hash.js'
import {type HashRange} from '../model/range.js'
import {type CellChanges, type CellStage, type DigestCells} from './digestCells.js'
import {FINE_WIDTH, fineOf} from './digestLayout.js'
import {compareRecords, versionWall} from './lwwMerge.js'
import {type NodeRecord} from './protocol.js'

/**
 * ApplyResult counts the records that won the LWW merge (written) and those that lost or
 * repeated (ignored), and names each record that lost to another record held here:
 * `superseded[j] = {i, version}` says record `i` of the call was not stored because this
 * replica keeps `version` — a newer one, or this very version with a record that wins the
 * tie (compareRecords). An identical repeat of the stored record is not superseded (it is
 * an idempotent retry that succeeded). Coordinators must not count a superseded write as
 * acknowledged (see Coordinator).
 */
export interface ApplyResult {
  applied: number
  ignored: number
  superseded: Superseded[]
  /**
   * expired lists (present only when non-empty) the records `i` that were tombstones
   * already older than the grace on arrival and left no tombstone, so this replica holds
   * nothing that hides an older value held elsewhere. Coordinators must not count them as
   * acknowledging a client delete.
   */
  expired?: number[]
  /**
   * deletePriors lists (present only when non-empty, and only for a client write) what each
   * stored tombstone `i` replaced on this replica: the version it held for the key and
   * whether that was a value, or nothing at all (no version, not live). A tombstone that
   * repeats the stored one (a retry) has no entry: what it replaced is no longer known here.
   * Coordinators use it to tell a client whether its delete removed a value.
   */
  deletePriors?: DeletePrior[]
}

/** DeletePrior is what tombstone `i` of an apply call replaced: `version` absent when the replica held nothing for the key; `live` when it held a value (not a tombstone). */
export interface DeletePrior {
  i: number
  version?: string
  live: boolean
}

/**
 * ApplyOptions: `clientWrite` marks a client's write (the node API's kind=write, not a
 * hint's replay); copy, repair and replayed batches leave it unset.
 */
export interface ApplyOptions {
  clientWrite?: boolean
}

/** Superseded names record `i` of an apply call and the newer version the replica kept instead. */
export interface Superseded {
  i: number
  version: string
}

/** GcFloor: in [lo, hi), values older than `floor` (version wall ms) are no longer taken from repair. */
export interface GcFloor {
  lo: number
  hi: number
  floor: number
}

/** Committed is what one committed transaction returns: its result, the digest cells it changed, and how long it took (fsync included). */
export interface Committed<T> {
  result: T
  changes: CellChanges
  seconds: number
}

/** DB_FILE is the node's database file inside its data dir. */
export const DB_FILE = 'shardctl-node.sqlite'

/**
 * BUSY_TIMEOUT_MS is how long a connection waits for a lock another connection holds before
 * its statement fails with SQLITE_BUSY (see openConnection).
 */
export const BUSY_TIMEOUT_MS = 5000

/**
 * openConnection opens a connection to the node's database with the pragmas both the
 * reader (main thread) and the writer (worker thread) use. `synchronous` only matters
 * for the writer: it is the connection whose commits fsync. `busyTimeoutMs` replaces
 * {@link BUSY_TIMEOUT_MS} (tests that hold the write lock on purpose). With `fileMustExist`
 * a missing file is SQLite's error (SQLITE_CANTOPEN) instead of a new empty database: a
 * reader that opens a store named by a table it read must never read a deleted one as empty.
 */
export function openConnection(file: string, synchronous: 'FULL' | 'NORMAL', pageSize: number, busyTimeoutMs = BUSY_TIMEOUT_MS, fileMustExist = false): Database.Database {
  const db = new Database(file, {fileMustExist})
  try {
    db.pragma(`page_size = ${pageSize}`) // effective on a new file only
    // Chosen for a new file only (before its first table): pages a drop frees can then be given
    // back to the file system (LwwWriter.returnFreePages), not only reused. Not on an existing
    // file: there the pragma rewrites the header in a write transaction at every open, which
    // on a full disk failed the writer's start (test/integration/node/diskFullWrites.test.ts).
    if (Number(db.pragma('page_count', {simple: true})) === 0) db.pragma('auto_vacuum = INCREMENTAL')
    db.pragma('journal_mode = WAL')
    db.pragma(`synchronous = ${synchronous}`)
    db.pragma('cache_size = -65536')
    // Reads through a memory map: a shard scan visits rows in (hash, key) order, i.e. randomly in the table.
    db.pragma('mmap_size = 1073741824')
    db.pragma('temp_store = MEMORY')
    // Only the writer thread writes; the reader never waits for a lock (WAL readers do not
    // block), but a checkpoint or schema read may briefly; never fail on SQLITE_BUSY for that.
    db.pragma(`busy_timeout = ${Math.max(0, Math.floor(busyTimeoutMs))}`)
    return db
  } catch (err) {
    db.close()
    throw err
  }
}

const EMPTY = Buffer.alloc(0)

/**
 * passiveCheckpoint runs a PASSIVE WAL checkpoint on `db` (it copies what it can without
 * waiting for or blocking writers and readers) and says what it found: the WAL's frames and
 * how many of them are in the database file; both -1 when another checkpoint held the lock.
 */
export function passiveCheckpoint(db: Database.Database): {log: number; checkpointed: number} {
  const row = db.pragma('wal_checkpoint(PASSIVE)') as {busy: number; log: number; checkpointed: number}[]
  return {log: row[0]?.log ?? 0, checkpointed: row[0]?.checkpointed ?? 0}
}

/**
 * LwwWriter is the one writer of a node's database: every change to rows, digest cells,
 * copy cursors and gc floors goes through it, on one connection, one transaction at a
 * time. It runs in the storage writer thread (storageWriterWorker.ts), so commits and
 * their fsync never hold the node's event loop.
 *
 * Why no acknowledged write is lost and LWW holds: the merge (read the stored head,
 * compare, write if the incoming record is larger) runs inside the same write transaction
 * that commits it, on the only connection that writes. SQLite WAL admits one writer at a
 * time, and there is no second one: the main thread's connection only reads. So every
 * merge sees every previously committed record for its key, and no commit can overwrite
 * a record it did not compare against. The merge is a join (commutative, associative,
 * idempotent), so the order in which client writes, copy frames and repairs reach the
 * writer does not change the result. A write is acknowledged only after its transaction
 * committed (fsync'd under synchronous=FULL) and the main thread's digest cache took its
 * cell changes (StorageWriter), so what a caller was told is durable is also what later
 * reads and digests see. The main thread's connection writes only while the engine opens
 * (schema, digest-format migration, node id), before this writer exists; after that it
 * runs SELECTs only, which in WAL mode neither block nor are blocked by this writer and
 * see each transaction whole or not at all. A transaction that throws rolls back with its
 * staged digest cells ({@link inTransaction}), and its callers are rejected, never
 * acknowledged; if the writer thread dies, every queued caller is rejected too.
 */
export class LwwWriter {
  private readonly stmts: ReturnType<typeof prepareWrites>
  private syncFull: boolean | undefined

  constructor(
    private readonly db: Database.Database,
    private readonly cells: DigestCells,
  ) {
    this.stmts = prepareWrites(db)
  }

  /**
   * inTransaction runs `body` in one transaction with a fresh cell stage and persists the
   * staged cells with it. On commit the cells become visible ({@link DigestCells.commit})
   * and their changes are returned; on any throw the transaction rolls back, the stage is
   * dropped and the error propagates. The one place a write transaction is committed or
   * rolled back.
   */
  inTransaction<T>(body: (stage: CellStage) => T): Committed<T> {
    const started = performance.now()
    const stage = this.cells.stage()
    // IMMEDIATE: take the write lock at BEGIN. A deferred BEGIN whose first statement reads
    // (the LWW head) cannot wait on busy_timeout when it upgrades to a write, so it would
    // fail at once with SQLITE_BUSY whenever another connection briefly holds the lock.
    const result = this.db
      .transaction(() => {
        const r = body(stage)
        for (const [f, c] of stage.entries()) this.stmts.fineSet.run(f, c.xhi, c.xlo, c.n, c.bytes)
        return r
      })
      .immediate()
    const changes = stage.changes()
    this.cells.commit(changes)
    return {result, changes, seconds: (performance.now() - started) / 1000}
  }

  /** applyGroup merges several calls' records in one transaction (group commit); one result per call. */
  applyGroup(calls: readonly {records: readonly NodeRecord[]; opts: ApplyOptions}[]): Committed<ApplyResult[]> {
    return this.inTransaction((stage) => calls.map((c) => this.merge(c.records, stage, c.opts)))
  }

  /**
   * applyCopy merges a copy frame's records and stores its resume state under meta `name`,
   * in one transaction. With `durable` false and the connection at synchronous FULL, the
   * commit skips its WAL fsync (synchronous NORMAL for this one transaction): a frame and
   * its resume state stay atomic, and since the WAL is a log, an OS crash or power loss can
   * only cut its tail, so the copy resumes from an earlier cursor whose data is all there.
   * Nothing acknowledged depends on a non-durable frame: every later FULL commit (a client
   * write, the copy's last frame, which the puller marks durable before it reports the copy
   * done) fsyncs the WAL and with it every frame before it. A process crash loses nothing
   * either way (the OS holds the written pages).
   */
  applyCopy(records: readonly NodeRecord[], name: string, state: string, durable = true): Committed<ApplyResult> {
    return this.inTransactionAt(durable ? undefined : 'NORMAL', (stage) => {
      const result = this.merge(records, stage)
      this.stmts.metaSet.run(name, state)
      return result
    })
  }

  /**
   * applyRecords merges `records` (LWW) in one transaction with no meta change; `durable`
   * fsyncs the commit even on a NORMAL connection (a routed copy frame's parts before the one
   * carrying its cursor, which must not outlive them: StoreWriters.applyCopy).
   */
  applyRecords(records: readonly NodeRecord[], durable = false): Committed<ApplyResult> {
    return this.inTransactionAt(durable ? 'FULL' : undefined, (stage) => this.merge(records, stage))
  }

  /** hasMeta tells whether meta `name` is stored (a read on the writing connection, outside any transaction). */
  hasMeta(name: string): boolean {
    return this.stmts.metaHas.get(name) !== undefined
  }

  /**
   * inTransactionAt runs {@link inTransaction} with its commit at synchronous `level` for this
   * one transaction (undefined: the connection's own), the connection's level restored after.
   */
  private inTransactionAt<T>(level: 'FULL' | 'NORMAL' | undefined, fn: (stage: CellStage) => T): Committed<T> {
    const own = this.synchronousFull() ? 'FULL' : 'NORMAL'
    const switched = level !== undefined && level !== own
    if (switched) this.db.pragma(`synchronous = ${level}`)
    try {
      return this.inTransaction(fn)
    } finally {
      if (switched) this.db.pragma(`synchronous = ${own}`)
    }
  }

  /** synchronousFull tells whether the connection commits at synchronous FULL (2) or above; read once. */
  private synchronousFull(): boolean {
    this.syncFull ??= Number(this.db.pragma('synchronous', {simple: true})) >= 2
    return this.syncFull
  }

  /** purge deletes up to `limit` tombstones of `range` older than `before` (see StorageEngine.purgeTombstones); returns how many. */
  purge(range: HashRange, before: number, limit: number): Committed<number> {
    return this.inTransaction((stage) => {
      const rows = this.stmts.expired.all(before, range.lo, range.hi, limit)
      for (const row of rows) {
        this.stmts.del.run(row.h, row.k)
        stage.toggle(row.h, row.k, row.ver, null, row.len, -1)
      }
      return rows.length
    })
  }

  /**
   * deleteSlice deletes the records of `range` in fine buckets from `from` on, in one
   * transaction, until `sliceMs` passed or the range ends. Returns the records deleted, the
   * next bucket to start from (-1: done) and the cell changes. Slicing lets client writes
   * queued behind a large drop commit between slices; one transaction (one fsync) per
   * slice rather than per bucket, because a shard spans up to 65,536 fine buckets and a
   * commit each made dropping 200k small keys take minutes. A slice that fails rolls back
   * whole: nothing of it committed, so the digest cache has nothing to take.
   */
  deleteSlice(range: HashRange, from: number, sliceMs: number): Committed<{deleted: number; next: number}> {
    const started = performance.now()
    const last = fineOf(range.hi - 1)
    return this.inTransaction((stage) => {
      let deleted = 0
      let f = from
      for (; f <= last; f++) {
        deleted += this.deleteFine(range, f, stage)
        if (performance.now() - started >= sliceMs) {
          f++
          break
        }
      }
      return {deleted, next: f > last ? -1 : f}
    })
  }

  /**
   * rangeRowIds returns the row ids of `range`'s records in fine buckets from `from` on,
   * stopping after the bucket that brings them to `maxRows` or more, and the next bucket to
   * start from (-1: done). Reads only (the covering (h, k) index holds the rowid): the ids
   * let a drop delete in table order ({@link deleteRows}).
   */
  rangeRowIds(range: HashRange, from: number, maxRows: number): {ids: Float64Array; next: number} {
    const last = fineOf(range.hi - 1)
    const ids: number[] = []
    let f = from
    for (; f <= last && ids.length < maxRows; f++) {
      if (this.cells.count(f) === 0) continue
      for (const id of this.stmts.rowIds.iterate(Math.max(range.lo, f * FINE_WIDTH), Math.min(range.hi, (f + 1) * FINE_WIDTH))) ids.push(id)
    }
    return {ids: Float64Array.from(ids), next: f > last ? -1 : f}
  }

  /**
   * deleteRows deletes, in one transaction, the rows with the given ids whose hash is still
   * inside `range` (an id whose row is gone or now holds another range's key is skipped),
   * keeping the digest cells exact row by row, and stops after the row that brings the
   * transaction to `sliceMs`, once it went through at least `minIds` ids (and always at
   * least one), so the writes queued behind it wait at most about that long. Returns how many rows it deleted and how many of `ids`
   * it went through (`used`: the caller passes the rest again). Given ids in ascending
   * order, the rows sit on neighbouring table pages, so each page is written by one commit
   * (see StorageEngine.deleteRange for why that matters).
   */
  deleteRows(range: HashRange, ids: Float64Array, sliceMs = Infinity, minIds = 1): Committed<{deleted: number; used: number}> {
    const started = performance.now()
    return this.inTransaction((stage) => {
      let deleted = 0
      let used = 0
      while (used < ids.length) {
        const row = this.stmts.deleteRowId.get(ids[used++] ?? -1, range.lo, range.hi)
        if (row) {
          stage.toggle(row.h, row.k, row.ver, row.v, row.len, -1)
          deleted++
        }
        if (used >= minIds && performance.now() - started >= sliceMs) break
      }
      return {deleted, used}
    })
  }

  /**
   * returnFreePages gives up to `pages` of the database file's free pages back to the file
   * system in one transaction (SQLite's incremental vacuum: live pages at the file's end move
   * into free slots, the end is cut off at the next checkpoint that reaches the WAL's end),
   * and returns how many free pages are left. Rows, their ids and the digest cells are
   * unchanged. A data dir created before auto-vacuum (auto_vacuum NONE) cannot: 0 left, so a
   * caller looping until none are left stops at once.
   */
  returnFreePages(pages: number): Committed<{freePages: number}> {
    const started = performance.now()
    if (Number(this.db.pragma('auto_vacuum', {simple: true})) !== 2) return {result: {freePages: 0}, changes: new Float64Array(0), seconds: 0}
    this.db.pragma(`incremental_vacuum(${Math.max(1, Math.floor(pages))})`)
    const freePages = Number(this.db.pragma('freelist_count', {simple: true}))
    return {result: {freePages}, changes: new Float64Array(0), seconds: (performance.now() - started) / 1000}
  }

  /**
   * setMeta stores (`value` given) or deletes (null) meta `name`. `durable`: the commit fsyncs
   * the WAL even on a NORMAL connection (synchronous FULL for this one transaction): what the
   * node tells etcd it holds (the write mark) must be on disk first, whatever --fsync says.
   */
  setMeta(name: string, value: string | null, durable = false): Committed<void> {
    return this.inTransactionAt(durable ? 'FULL' : undefined, () => {
      if (value === null) this.stmts.metaDel.run(name)
      else this.stmts.metaSet.run(name, value)
    })
  }

  /**
   * setFloors replaces every gc floor with `floors` and, in the same transaction, deletes
   * the values (tombstones stay) of each `dropValuesBelow` range whose version's wall clock
   * is older than its floor, keeping the digest cells exact; returns how many it deleted.
   */
  setFloors(floors: readonly GcFloor[], dropValuesBelow: readonly GcFloor[] = []): Committed<number> {
    return this.inTransaction((stage) => {
      this.stmts.floorsClear.run()
      for (const f of floors) this.stmts.floorPut.run(f.lo, f.hi, f.floor)
      return this.deleteValuesBelow(dropValuesBelow, stage)
    })
  }

  /**
   * dropValuesBelow deletes, in one transaction, the values (tombstones stay) of each range of
   * `below` whose version's wall clock is older than its floor, keeping the digest cells exact,
   * and leaves the gc floors alone: a range store's share of a {@link setFloors} (the floors
   * live in the main file only). Returns how many it deleted.
   */
  dropValuesBelow(below: readonly GcFloor[]): Committed<number> {
    return this.inTransaction((stage) => this.deleteValuesBelow(below, stage))
  }

  private deleteValuesBelow(below: readonly GcFloor[], stage: CellStage): number {
    let dropped = 0
    for (const f of below) {
      for (const row of this.stmts.valuesBelow.all(f.lo, f.hi, f.floor)) {
        this.stmts.del.run(row.h, row.k)
        stage.toggle(row.h, row.k, row.ver, row.v, row.len, -1)
        dropped++
      }
    }
    return dropped
  }

  private deleteFine(range: HashRange, f: number, stage: CellStage): number {
    const fLo = f * FINE_WIDTH
    const fHi = fLo + FINE_WIDTH
    if (fLo >= range.lo && fHi <= range.hi) {
      if (this.cells.count(f) === 0) return 0
      const n = this.stmts.deleteRange.run(fLo, fHi).changes
      stage.clear(f)
      return n
    }
    let n = 0
    for (const row of this.stmts.heads.all(Math.max(range.lo, fLo), Math.min(range.hi, fHi))) {
      this.stmts.del.run(row.h, row.k)
      stage.toggle(row.h, row.k, row.ver, row.v, row.len, -1)
      n++
    }
    return n
  }

  /** merge is the LWW merge of `records` into the stored rows (caller holds the write transaction); a client write's result names what its tombstones replaced. */
  private merge(records: readonly NodeRecord[], stage: CellStage, opts: ApplyOptions = {}): ApplyResult {
    let applied = 0
    let ignored = 0
    const superseded: Superseded[] = []
    const deletePriors: DeletePrior[] = []
    for (let i = 0; i < records.length; i++) {
      const r = records[i]
      if (!r) continue
      const h = keyHash(r.key)
      const head = this.stmts.head.get(h, r.key)
      if (head) {
        const current: NodeRecord = {key: r.key, version: head.ver, value: head.tomb ? null : EMPTY}
        let cmp = compareRecords(r, current)
        if (r.version === head.ver && !head.tomb && r.value !== null) {
          // Same version, both values (a writer id reused by a restarted router): order by the
          // stored bytes, as compareRecords does. Not by the placeholder: an empty value would
          // compare equal to it and pass for a repeat of the stored one.
          cmp = compareRecords(r, {...current, value: this.stmts.value.get(h, r.key)?.v ?? EMPTY})
        }
        if (cmp <= 0) {
          ignored++
          // Lost to another record, newer or at this very version: not stored here, so no ack.
          // Only an identical repeat (cmp 0) is an idempotent retry that succeeded.
          if (cmp < 0) superseded.push({i, version: head.ver})
          continue
        }
        stage.toggle(h, r.key, head.ver, head.v, head.len, -1)
      }
      // Every tombstone is stored, however old by this node's clock: dropping one could let
      // a replica that missed the delete spread the old value back (see purgeTombstones).
      const tombstone = r.value === null
      if (tombstone && opts.clientWrite) deletePriors.push(head ? {i, version: head.ver, live: !head.tomb} : {i, live: false})
      this.stmts.upsert.run(h, Buffer.from(r.key), r.version, tombstone ? null : r.value, tombstone ? versionWall(r.version) : null)
      stage.toggle(h, r.key, r.version, r.value, r.key.length + (r.value?.length ?? 0), 1)
      applied++
    }
    return deletePriors.length > 0 ? {applied, ignored, superseded, deletePriors} : {applied, ignored, superseded}
  }
}

/**
 * PartlyCommitted is an error thrown by a writer request that committed some transactions
 * before one failed: `committedChanges` are the cell changes of those that committed (in
 * order), which the caller's digest cache must take before it reports the failure. A request
 * on one store runs in one transaction (a range drop's slice included), so none throws one;
 * a request routed over range stores commits store by store and throws its PartlyRouted
 * (storeWriters.ts) when a later store's commit fails.
 */
export interface PartlyCommitted {
  committedChanges: CellChanges
}

/** committedChangesOf returns the cell changes a failed request committed before it threw (empty when none). */
export function committedChangesOf(err: unknown): CellChanges {
  const c = (err as Partial<PartlyCommitted> | null)?.committedChanges
  return c instanceof Float64Array ? c : new Float64Array(0)
}

/**
 * VALUES_BEFORE_WHERE selects, given (lo, hi, before), the values (not tombstones) of the hash
 * range [lo, hi) whose version's wall clock (its first 15 digits, in ms) is before `before`: a
 * gc fence's digest (StorageEngine.oldValuesDigest, read side) and an adopted floor's deletion
 * (LwwWriter.setFloors) take the same rows.
 */
export const VALUES_BEFORE_WHERE = 'h >= ? AND h < ? AND v IS NOT NULL AND CAST(substr(ver, 1, 15) AS INTEGER) < ?'

/**
 * EXPIRED_TOMBSTONES_SQL lists up to a limit of the tombstones older than a cutoff inside
 * a hash range (a purge's batch), through the partial tombstone index, named for the same
 * reason as storageEngine's TOMBSTONES_BEFORE_SQL: left to itself the planner walks every
 * row of the range in the writer thread, on every purge pass.
 */
export const EXPIRED_TOMBSTONES_SQL = 'SELECT h, k, ver, length(k) AS len FROM kv INDEXED BY kv_tombstones WHERE v IS NULL AND wall < ? AND h >= ? AND h < ? LIMIT ?'

function prepareWrites(db: Database.Database) {
  return {
    head: db.prepare<[number, Uint8Array], {ver: string; v: Buffer | null; tomb: number; len: number}>('SELECT ver, v, v IS NULL AS tomb, length(k) + coalesce(length(v), 0) AS len FROM kv WHERE h = ? AND k = ?'),
    value: db.prepare<[number, Uint8Array], {v: Buffer | null}>('SELECT v FROM kv WHERE h = ? AND k = ?'),
    upsert: db.prepare('INSERT INTO kv (h, k, ver, v, wall) VALUES (?, ?, ?, ?, ?) ON CONFLICT (h, k) DO UPDATE SET ver = excluded.ver, v = excluded.v, wall = excluded.wall'),
    del: db.prepare('DELETE FROM kv WHERE h = ? AND k = ?'),
    heads: db.prepare<[number, number], {h: number; k: Buffer; ver: string; v: Buffer | null; len: number}>('SELECT h, k, ver, v, length(k) + coalesce(length(v), 0) AS len FROM kv WHERE h >= ? AND h < ?'),
    deleteRange: db.prepare('DELETE FROM kv WHERE h >= ? AND h < ?'),
    rowIds: db.prepare<[number, number], number>('SELECT id FROM kv WHERE h >= ? AND h < ?').pluck(),
    deleteRowId: db.prepare<[number, number, number], {h: number; k: Buffer; ver: string; v: Buffer | null; len: number}>('DELETE FROM kv WHERE id = ? AND h >= ? AND h < ? RETURNING h, k, ver, v, length(k) + coalesce(length(v), 0) AS len'),
    expired: db.prepare<[number, number, number, number], {h: number; k: Buffer; ver: string; len: number}>(EXPIRED_TOMBSTONES_SQL),
    metaSet: db.prepare('INSERT INTO meta (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value'),
    metaDel: db.prepare('DELETE FROM meta WHERE name = ?'),
    metaHas: db.prepare<[string], {one: number}>('SELECT 1 AS one FROM meta WHERE name = ?'),
    fineSet: db.prepare('INSERT INTO fine (f, xhi, xlo, n, bytes) VALUES (?, ?, ?, ?, ?) ON CONFLICT (f) DO UPDATE SET xhi = excluded.xhi, xlo = excluded.xlo, n = excluded.n, bytes = excluded.bytes'),
    floorsClear: db.prepare('DELETE FROM gc_floor'),
    valuesBelow: db.prepare<[number, number, number], {h: number; k: Buffer; ver: string; v: Buffer; len: number}>(`SELECT h, k, ver, v, length(k) + length(v) AS len FROM kv WHERE ${VALUES_BEFORE_WHERE}`),
    floorPut: db.prepare('INSERT INTO gc_floor (lo, hi, floor) VALUES (?, ?, ?) ON CONFLICT (lo, hi) DO UPDATE SET floor = max(floor, excluded.floor)'),
  }
}
