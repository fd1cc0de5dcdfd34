import {closeSync, existsSync, fdatasyncSync, openSync} from 'node:fs'
import {dirname} from 'node:path'
import type Database from 'better-sqlite3'
import {type CellChanges, DigestCells} from './digestCells.js'
import {type HashRange} from '../model/range.js'
import {fineOf} from './digestLayout.js'
import {type ApplyOptions, type ApplyResult, type Committed, committedChangesOf, type GcFloor, LwwWriter, openConnection} from './lwwSql.js'
import {type NodeRecord} from './protocol.js'
import {rangeStorePath, readSpanTable} from './rangeStoreFiles.js'
import {joinApplyResults, splitByStore} from './recordRouting.js'
import {type SpanTable} from './spanTable.js'

/** StoreChanges are the digest cells a transaction changed in range store `store` (the main file's travel apart, as before). */
export interface StoreChanges {
  store: string
  changes: CellChanges
}

/** Routed is a writer request's outcome over several stores: the main file's cell changes as `changes`, each range store's in `stores`. */
export type Routed<T> = Committed<T> & {stores?: StoreChanges[]}

/**
 * PartlyRouted is an error thrown by a routed request after some of its per-store commits
 * landed: `committedChanges` (the main file's) and `committedStoreChanges` are their cells,
 * which the main thread's caches must take before the failure is reported.
 */
export interface PartlyRouted {
  committedChanges: CellChanges
  committedStoreChanges: StoreChanges[]
}

/** committedStoreChangesOf returns the range stores' cell changes a failed request committed before it threw (empty when none). */
export function committedStoreChangesOf(err: unknown): StoreChanges[] {
  const c = (err as Partial<PartlyRouted> | null)?.committedStoreChanges
  return Array.isArray(c) ? c : []
}

/** StoreWritersOptions are the pragmas every store's writing connection gets: the main file's. */
export interface StoreWritersOptions {
  synchronous: 'FULL' | 'NORMAL'
  pageSize: number
  busyTimeoutMs?: number
  autocheckpointPages?: number
}

interface OpenStore {
  db: Database.Database
  writer: LwwWriter
  wal: string
}

/**
 * StoreWriters is the writer thread's view of the node's stores (issue 12 stage 1, step 4:
 * src/node/README.md "A file per large range"): the main file's {@link LwwWriter} and one per
 * range store the main file's range_store table names, each on its own writing connection
 * with the main file's pragmas (same synchronous level, so the same durability) and its own
 * digest cells. It routes every record at commit by the table it holds, not by what the main
 * thread saw when it queued the write, so an acknowledged record is in the store serving its
 * hash when it committed.
 *
 * A request spanning stores commits store by store (SQLite makes a transaction atomic in one
 * file only) and is answered after the last commit; each commit is an LWW merge, so a crash
 * between them loses nothing that was acknowledged (nothing of the request was) and a retry
 * re-merges idempotently. With an empty table every request runs the main writer's code as
 * it did before range stores.
 *
 * Purges, range drops (slices, and the id pass's listings and deletions, which name the
 * store the engine listed) and the values an adopted floor drops run per part in the store
 * serving it (step 5); the gc floors themselves stay in the main file. Returning free pages
 * and checkpoints still run on the main file only (StorageEngine.open refuses a dir with
 * range stores unless a test asks for it).
 */
export class StoreWriters {
  private readonly stores = new Map<string, OpenStore>()
  /** unsynced names the stores with commits not fsync'd yet (copy slices at synchronous NORMAL): a durable copy commit fsyncs their WALs first. */
  private readonly unsynced = new Set<string | undefined>()

  private constructor(
    readonly main: LwwWriter,
    private readonly table: SpanTable,
    private readonly synchronousFull: boolean,
    /** mainWal is the main file's WAL (fsync'd by hand as a range store's is). */
    private readonly mainWal: string,
  ) {}

  /**
   * open reads the span table from `mainDb` (the writer's connection to the main file at
   * `file`) and opens a writing connection, digest cells and LwwWriter for each range store it
   * names. The engine checked the files before starting the writer (RangeStores.open).
   * Throws SQLite's error for an unusable file, with every store connection closed again.
   */
  static open(mainDb: Database.Database, main: LwwWriter, file: string, opts: StoreWritersOptions): StoreWriters {
    const dataDir = dirname(file)
    const table = readSpanTable(mainDb, dataDir)
    const set = new StoreWriters(main, table, opts.synchronous === 'FULL', `${file}-wal`)
    try {
      for (const span of table.spans()) {
        const path = rangeStorePath(dataDir, span.store)
        const db = openConnection(path, opts.synchronous, opts.pageSize, opts.busyTimeoutMs)
        try {
          if (opts.autocheckpointPages !== undefined) db.pragma(`wal_autocheckpoint = ${Math.max(1, Math.floor(opts.autocheckpointPages))}`)
          const cells = new DigestCells()
          cells.load(db.prepare<[], {f: number; xhi: number; xlo: number; n: number; bytes: number}>('SELECT f, xhi, xlo, n, bytes FROM fine').all())
          set.stores.set(span.store, {db, writer: new LwwWriter(db, cells), wal: `${path}-wal`})
        } catch (err) {
          db.close()
          throw err
        }
      }
      return set
    } catch (err) {
      set.close()
      throw err
    }
  }

  /** isEmpty: no range store; every request runs on the main file as before. */
  get isEmpty(): boolean {
    return this.table.isEmpty
  }

  /** applyGroup is LwwWriter.applyGroup routed: each store's share of the calls in one transaction of that store, one result per call. */
  applyGroup(calls: readonly {records: readonly NodeRecord[]; opts: ApplyOptions}[]): Routed<ApplyResult[]> {
    if (this.table.isEmpty) return this.main.applyGroup(calls)
    const parts = splitByStore(
      calls.map((c) => c.records),
      this.table,
    )
    const done = new Steps()
    const perCall: {result: ApplyResult; indexes: number[]}[][] = calls.map(() => [])
    for (const part of parts) {
      const results = done.commit(part.store, () => this.writerOf(part.store).applyGroup(part.calls.map((records, c) => ({records, opts: calls[c]!.opts}))))
      results.forEach((result, c) => perCall[c]!.push({result, indexes: part.indexes[c]!}))
      this.unsynced.delete(part.store)
    }
    return done.routed(perCall.map((p) => (p.length === 0 ? {applied: 0, ignored: 0, superseded: []} : joinApplyResults(p))))
  }

  /**
   * applyCopy is LwwWriter.applyCopy routed: the frame's resume state `name` is stored in
   * the same transaction as the frame's last part (the store of its highest hash), so a
   * crash never leaves a cursor ahead of rows in its own file. Parts before it commit durably
   * (fsync'd) first: a power loss then cannot keep the cursor's commit while losing theirs. A
   * copy of the state in another store (the copy crossed into this one) is deleted only
   * after the new state committed, fsync'd, so a crash or a failed commit in between leaves
   * two states, the one before the frame and the one after it, each a valid resume point
   * (resuming at the older re-applies the frame: LWW), never none. No state would resume the
   * copy as a fresh one, whose floor adoption deletes, below its source's floor, what the
   * earlier frames brought (CopyPuller.adoptSourceFloors allows that only before a copy's
   * first frame). A durable frame first fsyncs every store holding copy commits not fsync'd
   * yet, so it makes every frame before it durable with it, as on one file.
   */
  applyCopy(records: readonly NodeRecord[], name: string, state: string, durable = true): Routed<ApplyResult> {
    if (this.table.isEmpty) return this.main.applyCopy(records, name, state, durable)
    const parts = splitByStore([records], this.table)
    const cursorStore = parts.length > 0 ? parts[parts.length - 1]!.store : this.holderOf(name)
    // The stores whose copy of the state the new one replaces: deleted once it is on disk.
    const stale = this.storeKeys().filter((store) => store !== cursorStore && this.writerOf(store).hasMeta(name))
    const done = new Steps()
    if (durable && this.synchronousFull) this.syncOthers(cursorStore)
    const results: {result: ApplyResult; indexes: number[]}[] = []
    parts.forEach((part, p) => {
      const last = p === parts.length - 1
      const result = last ? done.commit(part.store, () => this.writerOf(part.store).applyCopy(part.calls[0]!, name, state, durable)) : done.commit(part.store, () => this.writerOf(part.store).applyRecords(part.calls[0]!, true))
      results.push({result, indexes: part.indexes[0]!})
      if (!last || durable) this.unsynced.delete(part.store)
      else this.unsynced.add(part.store)
    })
    if (parts.length === 0) done.commit(cursorStore, () => this.writerOf(cursorStore).applyCopy([], name, state, durable))
    if (stale.length > 0) {
      // Whatever the frame's durability: a deletion must never reach the disk without the state replacing it.
      this.syncWal(cursorStore)
      for (const store of stale) done.commit(store, () => this.writerOf(store).setMeta(name, null))
    }
    return done.routed(joinApplyResults(results))
  }

  /**
   * setMeta is LwwWriter.setMeta routed: a value is stored in the main file (as before); a
   * deletion deletes `name` from every store holding it (a copy's state lives in the store of
   * its last frame), the main file's always.
   */
  setMeta(name: string, value: string | null, durable = false): Routed<void> {
    if (this.table.isEmpty || value !== null) return this.main.setMeta(name, value, durable)
    const done = new Steps()
    done.commit(undefined, () => this.main.setMeta(name, null, durable))
    for (const [store, s] of this.stores) if (s.writer.hasMeta(name)) done.commit(store, () => s.writer.setMeta(name, null, durable))
    return done.routed(undefined)
  }

  /** purge is LwwWriter.purge routed: each part's tombstones in the store serving it, one transaction per store, `limit` in all. */
  purge(range: HashRange, before: number, limit: number): Routed<number> {
    if (this.table.isEmpty) return this.main.purge(range, before, limit)
    const done = new Steps()
    let purged = 0
    for (const p of this.table.parts(range)) {
      if (purged >= limit) break
      purged += done.commit(p.store, () => this.writerOf(p.store).purge(p, before, limit - purged))
    }
    return done.routed(purged)
  }

  /**
   * deleteSlice is LwwWriter.deleteSlice routed: from fine bucket `from` on, each part in the
   * store serving it (one transaction per store touched), until `sliceMs` passed; `next` is the
   * bucket to resume from (-1: done). A bucket cut by a span edge is deleted part by part; the
   * slice never stops between two parts sharing a bucket, so a resumed slice never redoes a
   * finished part's bucket forever.
   */
  deleteSlice(range: HashRange, from: number, sliceMs: number): Routed<{deleted: number; next: number}> {
    if (this.table.isEmpty) return this.main.deleteSlice(range, from, sliceMs)
    const started = performance.now()
    const done = new Steps()
    const parts = this.table.parts(range)
    let deleted = 0
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i]!
      const last = fineOf(p.hi - 1)
      if (last < from) continue
      const left = Math.max(0, sliceMs - (performance.now() - started))
      const slice = done.commit(p.store, () => this.writerOf(p.store).deleteSlice(p, Math.max(from, fineOf(p.lo)), left))
      deleted += slice.deleted
      if (slice.next >= 0) return done.routed({deleted, next: slice.next})
      const following = parts[i + 1]
      if (following && fineOf(following.lo) > last && performance.now() - started >= sliceMs) return done.routed({deleted, next: fineOf(following.lo)})
    }
    return done.routed({deleted, next: -1})
  }

  /**
   * rangeRowIds is LwwWriter.rangeRowIds in store `store` (undefined: the main file), whose
   * row ids only its deleteRows may take. `range` is a part the engine's table gave that store;
   * when this writer's table does not have `store` serving all of it (a table change since),
   * it lists nothing: the drop's closing slices, routed by this table, delete the rows.
   */
  rangeRowIds(range: HashRange, from: number, maxRows: number, store: string | undefined): {ids: Float64Array; next: number} {
    if (!this.serves(store, range)) return {ids: new Float64Array(0), next: -1}
    return this.writerOf(store).rangeRowIds(range, from, maxRows)
  }

  /** deleteRows is LwwWriter.deleteRows in store `store` (the one that listed `ids`); skips them all when it no longer serves all of `range` (see {@link rangeRowIds}). */
  deleteRows(range: HashRange, ids: Float64Array, sliceMs: number, minIds: number, store: string | undefined): Routed<{deleted: number; used: number}> {
    if (!this.serves(store, range)) return {result: {deleted: 0, used: ids.length}, changes: new Float64Array(0), seconds: 0}
    if (store === undefined) return this.main.deleteRows(range, ids, sliceMs, minIds)
    const done = new Steps()
    const result = done.commit(store, () => this.writerOf(store).deleteRows(range, ids, sliceMs, minIds))
    return done.routed(result)
  }

  /**
   * setFloors is LwwWriter.setFloors routed: the floors are stored in the main file only;
   * the values each `dropValuesBelow` range holds below its floor are deleted per part in the
   * store serving it. The range stores commit first and the main file (floors and its own
   * part) last, so floors on disk mean their values are gone everywhere; a crash before the
   * last commit leaves the old floors (a copy adopting them adopts again).
   */
  setFloors(floors: readonly GcFloor[], dropValuesBelow: readonly GcFloor[] = []): Routed<number> {
    if (this.table.isEmpty) return this.main.setFloors(floors, dropValuesBelow)
    const inMain: GcFloor[] = []
    const byStore = new Map<string, GcFloor[]>()
    for (const f of dropValuesBelow) {
      for (const p of this.table.parts(f)) {
        const part = {lo: p.lo, hi: p.hi, floor: f.floor}
        if (p.store === undefined) inMain.push(part)
        else byStore.set(p.store, [...(byStore.get(p.store) ?? []), part])
      }
    }
    const done = new Steps()
    let dropped = 0
    for (const [store, below] of byStore) dropped += done.commit(store, () => this.writerOf(store).dropValuesBelow(below))
    dropped += done.commit(undefined, () => this.main.setFloors(floors, inMain))
    return done.routed(dropped)
  }

  /** close closes every range store's writing connection (the main one is its owner's). Idempotent. */
  close(): void {
    for (const s of this.stores.values()) if (s.db.open) s.db.close()
    this.stores.clear()
  }

  /** holderOf is the store holding meta `name` (the main file when none does). */
  private holderOf(name: string): string | undefined {
    for (const [store, s] of this.stores) if (s.writer.hasMeta(name)) return store
    return undefined
  }

  /** serves tells whether this writer's table has `store` (undefined: the main file) serving every hash of `range`. */
  private serves(store: string | undefined, range: HashRange): boolean {
    if (this.table.isEmpty) return store === undefined
    const parts = this.table.parts(range)
    return parts.length === 1 && parts[0]!.store === store
  }

  private storeKeys(): (string | undefined)[] {
    return [undefined, ...this.stores.keys()]
  }

  private writerOf(store: string | undefined): LwwWriter {
    if (store === undefined) return this.main
    const s = this.stores.get(store)
    if (!s) throw new RangeError(`the writer has no range store ${store} open`)
    return s.writer
  }

  /** syncOthers fdatasyncs the WAL of every store but `except` holding commits not fsync'd yet. */
  private syncOthers(except: string | undefined): void {
    for (const store of this.unsynced) if (store !== except) this.syncWal(store)
  }

  /** syncWal fdatasyncs the WAL of `store` (undefined: the main file): every commit it holds is then durable. */
  private syncWal(store: string | undefined): void {
    const wal = store === undefined ? this.mainWal : this.stores.get(store)?.wal
    if (wal && existsSync(wal)) syncFile(wal)
    this.unsynced.delete(store)
  }
}

/**
 * Steps commits a routed request's per-store transactions in turn, collecting their cell
 * changes by store; when one throws, the error carries the changes of those committed
 * before it ({@link PartlyRouted}), so the main thread's caches match the rows.
 */
class Steps {
  private main: CellChanges[] = []
  private readonly stores: StoreChanges[] = []
  private seconds = 0

  commit<T>(store: string | undefined, fn: () => Committed<T>): T {
    let done: Committed<T>
    try {
      done = fn()
    } catch (err) {
      const before = committedChangesOf(err)
      if (before.length > 0) this.add(store, before)
      throw Object.assign(err instanceof Error ? err : new Error(String(err)), {committedChanges: concat(this.main), committedStoreChanges: this.stores} satisfies PartlyRouted)
    }
    this.add(store, done.changes)
    this.seconds += done.seconds
    return done.result
  }

  routed<T>(result: T): Routed<T> {
    return {result, changes: concat(this.main), seconds: this.seconds, stores: this.stores}
  }

  private add(store: string | undefined, changes: CellChanges): void {
    if (store === undefined) this.main.push(changes)
    else this.stores.push({store, changes})
  }
}

/** concat joins cell change arrays in commit order (a later change of a cell overrides an earlier one when applied in order). */
function concat(parts: readonly CellChanges[]): CellChanges {
  if (parts.length === 1) return parts[0]!
  const out = new Float64Array(parts.reduce((n, p) => n + p.length, 0))
  let at = 0
  for (const p of parts) {
    out.set(p, at)
    at += p.length
  }
  return out
}

/** syncFile fdatasyncs a file. */
function syncFile(path: string): void {
  const fd = openSync(path, 'r+')
  try {
    fdatasyncSync(fd)
  } finally {
    closeSync(fd)
  }
}
