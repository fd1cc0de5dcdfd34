import {mkdirSync} from 'node:fs'
import {join} from 'node:path'
import Database from 'better-sqlite3'
import {keyHash} from '../model/hash.js'
import {parseHlc} from '../model/hlc.js'
import {type HashRange} from '../model/range.js'
import {digestLayout, FINE_COUNT, FINE_WIDTH, fineOf} from './digestLayout.js'
import {compareRecords, versionWall} from './lwwMerge.js'
import {type NodeRecord} from './protocol.js'
import {RECORD_HASH_FORMAT, recordHash} from './recordHash.js'
import {decodeCursor, encodeCursor} from './snapshotCursor.js'

/** ForeignClusterError: a data dir recorded for another cluster incarnation (see StorageEngineOptions.clusterUid). */
export class ForeignClusterError extends Error {}

/** CommitKind names what a committed transaction carried (see StorageEngineOptions.onCommit). */
export type CommitKind = 'group' | 'copy' | 'purge'

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
  /** clock returns wall milliseconds (injected for tests). */
  clock?: () => number
  /** maxTxnBytes bounds one group-commit transaction, so one commit never blocks the event loop for long. */
  maxTxnBytes?: number
}

/**
 * ApplyResult counts the records that won the LWW merge (written) and those that lost or
 * repeated (ignored), and names each record that lost to a strictly newer version held
 * here: `superseded[j] = {i, version}` says record `i` of the call was not stored because
 * this replica keeps `version`. A repeat of the stored version is not superseded (it is
 * an idempotent retry that succeeded). Coordinators must not count a superseded write as
 * acknowledged (see Coordinator).
 */
export interface ApplyResult {
  applied: number
  ignored: number
  superseded: Superseded[]
  /**
   * expired lists (present only when non-empty) the records `i` that were tombstones
   * already older than the grace on arrival and left no tombstone (a client write's changed
   * nothing, see {@link ApplyOptions}; a copy's or repair's deleted what it beat), so this
   * replica holds nothing that hides an older value held elsewhere. Coordinators must not
   * count them as acknowledging a client delete.
   */
  expired?: number[]
}

/**
 * ApplyOptions: `clientWrite` marks a client's write (the node API's kind=write). An
 * expired tombstone in a client write changes nothing — deleting what it beats without
 * leaving a tombstone would let an older value on another replica win the next read — and
 * is reported in `expired`, so the coordinator re-issues the delete with a fresh version.
 * Otherwise (copy, repair) an expired tombstone deletes what it beats and stores nothing.
 */
export interface ApplyOptions {
  clientWrite?: boolean
}

/** Superseded names record `i` of an apply call and the newer version the replica kept instead. */
export interface Superseded {
  i: number
  version: string
}

/** ScanPage is one page of a range scan and the cursor resuming after it (undefined: exhausted). */
export interface ScanPage {
  records: NodeRecord[]
  cursor: string | undefined
  bytes: number
}

/** RangeDigest is a range's digest buckets (see protocol DigestResponse). */
export interface RangeDigest {
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

type RawRow = [h: number, k: Buffer, ver: string, v: Buffer | null]

interface Pending {
  records: readonly NodeRecord[]
  opts: ApplyOptions
  bytes: number
  resolve: (r: ApplyResult) => void
  reject: (e: unknown) => void
}

interface FineCell {
  xhi: number
  xlo: number
  n: number
  bytes: number
}

const DB_FILE = 'shardctl-node.sqlite'
const PAGE_SIZE = Number(process.env.SHARDCTL_SQLITE_PAGE_SIZE ?? 16384)
const RECORD_OVERHEAD = 64
/** DELETE_SLICE_MS bounds how long deleteRange holds the event loop before yielding to requests. */
const DELETE_SLICE_MS = 8

/**
 * StorageEngine is a storage node's durable record store on SQLite (better-sqlite3, WAL).
 * Rows are keyed by (hash, key) through a unique index, so a shard is an index range scan
 * and a split rewrites nothing. The rows themselves live in a rowid table in arrival
 * order: random-key writes then dirty one table page and one small index page each
 * instead of one 16 KiB leaf of a clustered WITHOUT ROWID table, which measured 7-10×
 * faster for random writes at a ~30 % cost in scan rate (bench/storage.ts). Writes are LWW merges batched into group-commit
 * transactions; every transaction also updates the fine-bucket digest cells of the
 * records it changed, so digests are always consistent with the data.
 *
 * Not thread-safe and synchronous underneath: one engine per process, used from the event
 * loop. Every method throws the SQLite error unchanged on I/O failure (disk full, ...).
 */
export class StorageEngine {
  private readonly db: Database.Database
  private readonly clock: () => number
  private readonly graceMs: number
  private readonly maxOffsetMs: number
  private maxClock = 0
  /** floors are the gc floors set by {@link fenceBelow} (persisted in gc_floor), one per hash range. */
  private floors: GcFloor[] = []
  private readonly maxTxnBytes: number
  private readonly onCommit: StorageEngineOptions['onCommit']
  private readonly fineXhi = new Uint32Array(FINE_COUNT)
  private readonly fineXlo = new Uint32Array(FINE_COUNT)
  private readonly fineN = new Float64Array(FINE_COUNT)
  private readonly fineBytes = new Float64Array(FINE_COUNT)
  private pending: Pending[] = []
  /** dirtyAfterCommit holds fine cells written by the running transaction, copied to memory once it commits. */
  private readonly dirtyAfterCommit = new Map<number, FineCell>()
  private flushScheduled = false
  private closed = false
  private readonly stmts: ReturnType<StorageEngine['prepare']>
  private readonly applyTxn: (batch: Pending[]) => ApplyResult[]

  private constructor(db: Database.Database, opts: StorageEngineOptions) {
    this.db = db
    this.clock = opts.clock ?? Date.now
    this.graceMs = opts.tombstoneGraceMs
    this.maxOffsetMs = opts.maxClockOffsetMs ?? 500
    this.maxTxnBytes = opts.maxTxnBytes ?? 8 * 1024 * 1024
    this.onCommit = opts.onCommit
    this.stmts = this.prepare()
    this.loadFine()
    this.floors = this.db.prepare<[], GcFloor>('SELECT lo, hi, floor FROM gc_floor').all()
    this.applyTxn = this.db.transaction((batch: Pending[]) => {
      const dirty = new Map<number, FineCell>()
      const results = batch.map((p) => this.applyRecords(p.records, dirty, p.opts))
      this.writeFine(dirty)
      return results
    })
  }

  /**
   * open opens (creating if needed) the engine in `opts.dir`. Throws Error when the dir
   * belongs to another node id or cluster incarnation, or SQLite's error when the file is unusable.
   */
  static open(opts: StorageEngineOptions): StorageEngine {
    mkdirSync(opts.dir, {recursive: true})
    const db = new Database(join(opts.dir, DB_FILE))
    try {
      db.pragma(`page_size = ${PAGE_SIZE}`) // effective on a new file only
      db.pragma('journal_mode = WAL')
      db.pragma(`synchronous = ${opts.synchronous ?? 'FULL'}`)
      db.pragma('cache_size = -65536')
      // Reads through a memory map: a shard scan visits rows in (hash, key) order, i.e. randomly in the table.
      db.pragma('mmap_size = 1073741824')
      db.pragma('temp_store = MEMORY')
      db.exec(`
        CREATE TABLE IF NOT EXISTS kv (
          id INTEGER PRIMARY KEY,
          h INTEGER NOT NULL,
          k BLOB NOT NULL,
          ver TEXT NOT NULL,
          v BLOB,
          wall INTEGER
        );
        CREATE UNIQUE INDEX IF NOT EXISTS kv_hash_key ON kv (h, k);
        CREATE INDEX IF NOT EXISTS kv_tombstones ON kv (wall) WHERE v IS NULL;
        CREATE TABLE IF NOT EXISTS fine (f INTEGER PRIMARY KEY, xhi INTEGER NOT NULL, xlo INTEGER NOT NULL, n INTEGER NOT NULL, bytes INTEGER NOT NULL);
        CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE IF NOT EXISTS gc_floor (lo INTEGER NOT NULL, hi INTEGER NOT NULL, floor INTEGER NOT NULL, PRIMARY KEY (lo, hi));
      `)
      migrateDigestFormat(db)
      if (opts.nodeId !== undefined) {
        const row = db.prepare('SELECT value FROM meta WHERE name = ?').get('node') as {value: string} | undefined
        if (row && row.value !== opts.nodeId) throw new Error(`data dir ${opts.dir} belongs to node "${row.value}", not "${opts.nodeId}"`)
        if (!row) db.prepare('INSERT INTO meta (name, value) VALUES (?, ?)').run('node', opts.nodeId)
      }
      if (opts.clusterUid !== undefined) {
        const row = db.prepare('SELECT value FROM meta WHERE name = ?').get('cluster') as {value: string} | undefined
        if (row && row.value !== opts.clusterUid) throw new ForeignClusterError(`data dir ${opts.dir} holds data of an earlier incarnation of the cluster (uid ${row.value}, now ${opts.clusterUid}: it was re-initialised since)`)
        if (!row) db.prepare('INSERT INTO meta (name, value) VALUES (?, ?)').run('cluster', opts.clusterUid)
      }
      return new StorageEngine(db, opts)
    } catch (err) {
      db.close()
      throw err
    }
  }

  private prepare() {
    const db = this.db
    return {
      head: db.prepare<[number, Buffer], {ver: string; v: Buffer | null; tomb: number; len: number}>('SELECT ver, v, v IS NULL AS tomb, length(k) + coalesce(length(v), 0) AS len FROM kv WHERE h = ? AND k = ?'),
      value: db.prepare<[number, Buffer], {v: Buffer | null}>('SELECT v FROM kv WHERE h = ? AND k = ?'),
      get: db.prepare<[number, Buffer], Row>('SELECT h, k, ver, v FROM kv WHERE h = ? AND k = ?'),
      upsert: db.prepare('INSERT INTO kv (h, k, ver, v, wall) VALUES (?, ?, ?, ?, ?) ON CONFLICT (h, k) DO UPDATE SET ver = excluded.ver, v = excluded.v, wall = excluded.wall'),
      del: db.prepare('DELETE FROM kv WHERE h = ? AND k = ?'),
      scanFrom: db.prepare<[number, number], Row>('SELECT h, k, ver, v FROM kv WHERE h >= ? AND h < ? ORDER BY h, k'),
      // Raw (array) rows for the copy path: no per-row object with named fields.
      scanFromRaw: db.prepare<[number, number], RawRow>('SELECT h, k, ver, v FROM kv WHERE h >= ? AND h < ? ORDER BY h, k').raw(true),
      scanAfterRaw: db.prepare<[number, Buffer, number], RawRow>('SELECT h, k, ver, v FROM kv WHERE (h, k) > (?, ?) AND h < ? ORDER BY h, k').raw(true),
      heads: db.prepare<[number, number], {h: number; k: Buffer; ver: string; v: Buffer | null; len: number}>('SELECT h, k, ver, v, length(k) + coalesce(length(v), 0) AS len FROM kv WHERE h >= ? AND h < ?'),
      totals: db.prepare<[number, number], {n: number; bytes: number | null}>('SELECT count(*) AS n, sum(length(k) + coalesce(length(v), 0)) AS bytes FROM kv WHERE h >= ? AND h < ?'),
      deleteRange: db.prepare('DELETE FROM kv WHERE h >= ? AND h < ?'),
      // Values older than a cutoff (the version's first 15 digits are its wall ms), by a range scan.
      oldValues: db.prepare<[number, number, number], {h: number; k: Buffer; ver: string; v: Buffer}>('SELECT h, k, ver, v FROM kv WHERE h >= ? AND h < ? AND v IS NOT NULL AND CAST(substr(ver, 1, 15) AS INTEGER) < ?'),
      // Tombstones older than a cutoff inside a hash range (through the partial index on wall).
      tombstonesBefore: db.prepare<[number, number, number], {h: number; k: Buffer; ver: string}>('SELECT h, k, ver FROM kv WHERE v IS NULL AND wall < ? AND h >= ? AND h < ?'),
      expired: db.prepare<[number, number, number, number], {h: number; k: Buffer; ver: string; len: number}>('SELECT h, k, ver, length(k) AS len FROM kv WHERE v IS NULL AND wall < ? AND h >= ? AND h < ? LIMIT ?'),
      fineAll: db.prepare<[], {f: number; xhi: number; xlo: number; n: number; bytes: number}>('SELECT f, xhi, xlo, n, bytes FROM fine'),
      metaGet: db.prepare<[string], {value: string}>('SELECT value FROM meta WHERE name = ?'),
      metaSet: db.prepare('INSERT INTO meta (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value'),
      metaDel: db.prepare('DELETE FROM meta WHERE name = ?'),
      fineSet: db.prepare('INSERT INTO fine (f, xhi, xlo, n, bytes) VALUES (?, ?, ?, ?, ?) ON CONFLICT (f) DO UPDATE SET xhi = excluded.xhi, xlo = excluded.xlo, n = excluded.n, bytes = excluded.bytes'),
    }
  }

  private loadFine(): void {
    for (const r of this.stmts.fineAll.all()) {
      this.fineXhi[r.f] = r.xhi
      this.fineXlo[r.f] = r.xlo
      this.fineN[r.f] = r.n
      this.fineBytes[r.f] = r.bytes
    }
  }

  /**
   * apply merges `records` (LWW) and resolves once they are committed and durable. Calls
   * made in the same event-loop turn share one transaction (group commit). Rejects with
   * RangeError for a record whose version is not a formatHlc string; the whole call is
   * then refused and nothing of it is written.
   */
  apply(records: readonly NodeRecord[], opts: ApplyOptions = {}): Promise<ApplyResult> {
    if (this.closed) return Promise.reject(new Error('storage engine is closed'))
    for (const r of records) {
      if (!parseHlc(r.version)) return Promise.reject(new RangeError(`invalid record version ${JSON.stringify(r.version.slice(0, 100))}`))
    }
    let bytes = 0
    for (const r of records) bytes += r.key.length + (r.value?.length ?? 0) + RECORD_OVERHEAD
    return new Promise((resolve, reject) => {
      this.pending.push({records, opts, bytes, resolve, reject})
      if (!this.flushScheduled) {
        this.flushScheduled = true
        setImmediate(() => this.flush())
      }
    })
  }

  /** flush commits pending applies now, in transactions of at most maxTxnBytes (one request is never split). */
  flush(): void {
    this.flushScheduled = false
    while (this.pending.length > 0) {
      let size = 0
      let take = 0
      while (take < this.pending.length && (take === 0 || size + this.pending[take]!.bytes <= this.maxTxnBytes)) size += this.pending[take++]!.bytes
      const batch = this.pending.splice(0, take)
      try {
        const started = performance.now()
        const results = this.applyTxn(batch)
        this.onCommit?.('group', (performance.now() - started) / 1000, batch.reduce((n, p) => n + p.records.length, 0))
        this.commitFineCache()
        batch.forEach((p, i) => p.resolve(results[i]!))
      } catch (err) {
        this.dirtyAfterCommit.clear()
        for (const p of batch) p.reject(err)
      }
      if (this.pending.length > 0) {
        // Yield between transactions so reads and new requests get the event loop.
        this.flushScheduled = true
        setImmediate(() => this.flush())
        return
      }
    }
  }

  private cell(dirty: Map<number, FineCell>, f: number): FineCell {
    let c = dirty.get(f)
    if (!c) {
      c = {xhi: this.fineXhi[f]!, xlo: this.fineXlo[f]!, n: this.fineN[f]!, bytes: this.fineBytes[f]!}
      dirty.set(f, c)
    }
    return c
  }

  private toggle(dirty: Map<number, FineCell>, h: number, key: Uint8Array, version: string, value: Uint8Array | null, bytes: number, sign: 1 | -1): void {
    const c = this.cell(dirty, fineOf(h))
    const [hi, lo] = recordHash(key, version, value)
    c.xhi = (c.xhi ^ hi) >>> 0
    c.xlo = (c.xlo ^ lo) >>> 0
    c.n += sign
    c.bytes += sign * bytes
  }

  private writeFine(dirty: Map<number, FineCell>): void {
    for (const [f, c] of dirty) {
      this.stmts.fineSet.run(f, c.xhi, c.xlo, c.n, c.bytes)
      this.dirtyAfterCommit.set(f, c)
    }
  }

  private commitFineCache(): void {
    for (const [f, c] of this.dirtyAfterCommit) {
      this.fineXhi[f] = c.xhi
      this.fineXlo[f] = c.xlo
      this.fineN[f] = c.n
      this.fineBytes[f] = c.bytes
    }
    this.dirtyAfterCommit.clear()
  }

  private applyRecords(records: readonly NodeRecord[], dirty: Map<number, FineCell>, opts: ApplyOptions): ApplyResult {
    let applied = 0
    let ignored = 0
    const superseded: Superseded[] = []
    for (let i = 0; i < records.length; i++) {
      const r = records[i]!
      const h = keyHash(r.key)
      const head = this.stmts.head.get(h, r.key)
      if (head) {
        const current: NodeRecord = {key: r.key, version: head.ver, value: head.tomb ? null : EMPTY}
        let cmp = compareRecords(r, current)
        if (cmp > 0 && r.version === head.ver && !head.tomb && r.value !== null) {
          // Same version, both values (a misbehaving writer): order by bytes, as compareRecords does.
          cmp = compareRecords(r, {...current, value: this.stmts.value.get(h, r.key)?.v ?? EMPTY})
        }
        if (cmp <= 0) {
          ignored++
          if (head.ver > r.version) superseded.push({i, version: head.ver})
          continue
        }
        this.toggle(dirty, h, r.key, head.ver, head.v, head.len, -1)
      }
      // Every tombstone is stored, however old by this node's clock: dropping one could let
      // a replica that missed the delete spread the old value back (see purgeTombstones).
      const tombstone = r.value === null
      this.stmts.upsert.run(h, Buffer.from(r.key), r.version, tombstone ? null : r.value, tombstone ? versionWall(r.version) : null)
      this.toggle(dirty, h, r.key, r.version, r.value, r.key.length + (r.value?.length ?? 0), 1)
      applied++
    }
    return {applied, ignored, superseded}
  }

  /** tombstoneCount is how many tombstones the node stores (all shards; the partial index makes it cheap). */
  tombstoneCount(): number {
    return (this.db.prepare('SELECT count(*) AS n FROM kv WHERE v IS NULL').get() as {n: number}).n
  }

  /**
   * applyCopyBatch merges `records` (LWW, as {@link apply}) and stores `state` under meta
   * `name` in one transaction, committed (one fsync) before it returns: a copy's resume
   * cursor is durable exactly when the records before it are. Queued group-commit applies
   * are committed first, so the batch never reorders with writes already acknowledged to
   * be in flight. Synchronous on purpose: callers bound the batch (a copy frame), which
   * bounds how long it holds the event loop. Throws RangeError (nothing written) for a
   * record whose version is not a formatHlc string, or SQLite's error on I/O failure.
   */
  applyCopyBatch(records: readonly NodeRecord[], name: string, state: string): ApplyResult {
    if (this.closed) throw new Error('storage engine is closed')
    for (const r of records) {
      if (!parseHlc(r.version)) throw new RangeError(`invalid record version ${JSON.stringify(r.version.slice(0, 100))}`)
    }
    this.flush()
    const run = this.db.transaction(() => {
      const dirty = new Map<number, FineCell>()
      const result = this.applyRecords(records, dirty, {})
      this.writeFine(dirty)
      this.stmts.metaSet.run(name, state)
      return result
    })
    try {
      const started = performance.now()
      const result = run()
      this.onCommit?.('copy', (performance.now() - started) / 1000, records.length)
      this.commitFineCache()
      return result
    } catch (err) {
      this.dirtyAfterCommit.clear()
      throw err
    }
  }

  /** metaValue returns the value stored under meta `name` (copy state, see {@link applyCopyBatch}), or undefined. */
  metaValue(name: string): string | undefined {
    return this.stmts.metaGet.get(name)?.value
  }

  /** setMetaValue stores (`value` given) or deletes (null) meta `name`, committed before it returns. */
  setMetaValue(name: string, value: string | null): void {
    if (value === null) this.stmts.metaDel.run(name)
    else this.stmts.metaSet.run(name, value)
  }

  /** get returns the record stored for `key` (value or tombstone), or undefined. */
  get(key: Buffer): NodeRecord | undefined {
    const row = this.stmts.get.get(keyHash(key), key)
    return row ? toRecord(row) : undefined
  }

  /**
   * scan returns records of `range` in (hash, key) order after `cursor` (from a previous
   * page), stopping once about `maxBytes` are collected (at least one record). Throws
   * RangeError for a malformed cursor or one outside `range`.
   */
  scan(range: HashRange, cursor: string | undefined, maxBytes: number): ScanPage {
    let it: IterableIterator<RawRow>
    if (cursor === undefined) it = this.stmts.scanFromRaw.iterate(range.lo, range.hi)
    else {
      const c = decodeCursor(cursor)
      if (c.hash < range.lo || c.hash >= range.hi) throw new RangeError(`cursor at hash ${c.hash} is outside [${range.lo}, ${range.hi})`)
      it = this.stmts.scanAfterRaw.iterate(c.hash, c.key, range.hi)
    }
    const records: NodeRecord[] = []
    let bytes = 0
    let lastHash = 0
    let lastKey: Buffer | undefined
    let more = false
    for (const [h, k, ver, v] of it) {
      if (bytes >= maxBytes && records.length > 0) {
        more = true
        break
      }
      records.push({key: k, version: ver, value: v})
      bytes += k.length + ver.length + (v?.length ?? 0) + 8
      lastHash = h
      lastKey = k
    }
    if (more) it.return?.()
    return {records, cursor: more && lastKey ? encodeCursor(lastHash, lastKey) : undefined, bytes}
  }

  /**
   * digest returns the digest buckets of `range` (see digestLayout): whole fine buckets
   * come from the in-memory cells; the at most two fine buckets cut by the range's ends
   * are recomputed by scanning just those slivers. Tombstones whose version's wall clock
   * is before `tombstonesBefore` (when given) are left out, so replicas asked with the
   * same cutoff compare equal whatever their purge progress: a tombstone below the cutoff
   * and no record at all mean the same (nothing to read, nothing it still has to shadow
   * unless some replica holds an older value, which the digest does include).
   */
  digest(range: HashRange, tombstonesBefore?: number): RangeDigest {
    const layout = digestLayout(range)
    const buckets: string[] = []
    const counts: number[] = []
    for (let b = 0; b + 1 < layout.bounds.length; b++) {
      let xhi = 0
      let xlo = 0
      let n = 0
      const lo = layout.bounds[b]!
      const hi = layout.bounds[b + 1]!
      for (let f = fineOf(lo); f * FINE_WIDTH < hi; f++) {
        const fLo = f * FINE_WIDTH
        const fHi = fLo + FINE_WIDTH
        if (fLo >= lo && fHi <= hi) {
          xhi ^= this.fineXhi[f]!
          xlo ^= this.fineXlo[f]!
          n += this.fineN[f]!
        } else {
          for (const row of this.stmts.heads.iterate(Math.max(lo, fLo), Math.min(hi, fHi))) {
            const [a, c] = recordHash(row.k, row.ver, row.v)
            xhi ^= a
            xlo ^= c
            n++
          }
        }
      }
      buckets.push(hex32(xhi) + hex32(xlo))
      counts.push(n)
    }
    if (tombstonesBefore === undefined) return {bounds: layout.bounds, buckets, counts}
    const tombstonesExcluded = this.excludeTombstones(range, tombstonesBefore, layout.bounds, buckets, counts)
    return {bounds: layout.bounds, buckets, counts, tombstonesExcluded}
  }

  /** excludeTombstones XORs out of `buckets` (and `counts`) every tombstone of `range` older than `before`; returns how many. */
  private excludeTombstones(range: HashRange, before: number, bounds: readonly number[], buckets: string[], counts: number[]): number {
    const hi = buckets.map((b) => Number.parseInt(b.slice(0, 8), 16))
    const lo = buckets.map((b) => Number.parseInt(b.slice(8), 16))
    let excluded = 0
    for (const row of this.stmts.tombstonesBefore.iterate(before, range.lo, range.hi)) {
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
   */
  cutoffLimit(): number {
    return this.staleFloor() - 2 * this.maxOffsetMs
  }

  /** bucketRecords returns every record in the given digest buckets of `range` (indexes beyond the layout are skipped). */
  bucketRecords(range: HashRange, buckets: readonly number[]): NodeRecord[] {
    const {bounds} = digestLayout(range)
    const out: NodeRecord[] = []
    for (const b of [...new Set(buckets)].sort((x, y) => x - y)) {
      if (b + 1 >= bounds.length) continue
      for (const row of this.stmts.scanFrom.iterate(bounds[b]!, bounds[b + 1]!)) out.push(toRecord(row))
    }
    return out
  }

  /** rangeTotals counts records and bytes in `range` (exact: slivers at unaligned ends are counted by a scan). */
  rangeTotals(range: HashRange): RangeTotals {
    let keys = 0
    let bytes = 0
    const f0 = fineOf(range.lo)
    const f1 = fineOf(range.hi - 1)
    for (let f = f0; f <= f1; f++) {
      const fLo = f * FINE_WIDTH
      const fHi = fLo + FINE_WIDTH
      if (fLo >= range.lo && fHi <= range.hi) {
        keys += this.fineN[f]!
        bytes += this.fineBytes[f]!
      } else {
        const t = this.stmts.totals.get(Math.max(range.lo, fLo), Math.min(range.hi, fHi))!
        keys += t.n
        bytes += t.bytes ?? 0
      }
    }
    return {keys, bytes}
  }

  /** totals counts every record and byte stored. */
  totals(): RangeTotals {
    let keys = 0
    let bytes = 0
    for (let f = 0; f < FINE_COUNT; f++) {
      keys += this.fineN[f]!
      bytes += this.fineBytes[f]!
    }
    return {keys, bytes}
  }

  /**
   * purgeTombstones deletes up to `limit` tombstones of `range` whose version's wall clock
   * is before `before`, in one transaction, keeping digests in step. Returns how many it
   * deleted (call again while it returns `limit`).
   *
   * The caller must know it is safe, and only anti-entropy does (repairShards, through the
   * node's `gc` endpoint, after {@link fenceBelow} on every replica of the shard at one
   * epoch returned equal digests). Why purging then never undoes an acknowledged delete D
   * (a tombstone with version v < `before`) — i.e. no replica holds, nor later gains, a
   * value V of the same key with version u < v, which a quorum read could return once D
   * is gone:
   *
   * 1. From its fence on, a replica gains no value older than `before`: client writes
   *    (values and tombstones) older than its {@link staleFloor} are refused with an error,
   *    the fence cutoff is never newer than {@link cutoffLimit} (that floor minus twice the
   *    clock bound, so with one grace cluster-wide every in-bounds node's floor, a later
   *    joining replica's included, is above it), and the floor never goes backwards (the
   *    clock is taken as a running maximum, and the persisted gc floor counts too); repair
   *    values below the gc floor are dropped ({@link withoutFenced}); the shard is only
   *    purged with no move running, and a copy comes from a fenced replica. Apply stores
   *    every tombstone it takes.
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
  purgeTombstones(range: HashRange, before: number, limit = 1000): number {
    this.flush()
    const run = this.db.transaction(() => {
      const dirty = new Map<number, FineCell>()
      const rows = this.stmts.expired.all(before, range.lo, range.hi, limit)
      for (const row of rows) {
        this.stmts.del.run(row.h, row.k)
        this.toggle(dirty, row.h, row.k, row.ver, null, row.len, -1)
      }
      this.writeFine(dirty)
      return rows.length
    })
    try {
      const started = performance.now()
      const n = run()
      this.onCommit?.('purge', (performance.now() - started) / 1000, n)
      this.commitFineCache()
      return n
    } catch (err) {
      this.dirtyAfterCommit.clear()
      throw err
    }
  }

  /**
   * deleteRange removes every record of `range` (a shard's copy being dropped), one fine
   * bucket per transaction and yielding between them, so a large drop does not stall the
   * node. Returns the number of records deleted; 0 when the range was already empty.
   */
  async deleteRange(range: HashRange): Promise<number> {
    this.flush()
    this.clearFloors(range)
    let deleted = 0
    const f0 = fineOf(range.lo)
    const f1 = fineOf(range.hi - 1)
    const step = this.db.transaction((f: number) => {
      const fLo = f * FINE_WIDTH
      const fHi = fLo + FINE_WIDTH
      const dirty = new Map<number, FineCell>()
      let n = 0
      if (fLo >= range.lo && fHi <= range.hi) {
        if (this.fineN[f] === 0) return 0
        n = this.stmts.deleteRange.run(fLo, fHi).changes
        dirty.set(f, {xhi: 0, xlo: 0, n: 0, bytes: 0})
      } else {
        for (const row of this.stmts.heads.all(Math.max(range.lo, fLo), Math.min(range.hi, fHi))) {
          this.stmts.del.run(row.h, row.k)
          this.toggle(dirty, row.h, row.k, row.ver, row.v, row.len, -1)
          n++
        }
      }
      this.writeFine(dirty)
      return n
    })
    let sliceStart = performance.now()
    for (let f = f0; f <= f1; f++) {
      if (this.closed) break
      try {
        deleted += step(f)
        this.commitFineCache()
      } catch (err) {
        this.dirtyAfterCommit.clear()
        throw err
      }
      // Yield by time, not by bucket count: a bucket of large values takes far longer to
      // delete than an empty one, and client requests must not wait behind a whole drop.
      if (performance.now() - sliceStart >= DELETE_SLICE_MS) {
        await new Promise((r) => setImmediate(r))
        sliceStart = performance.now()
      }
    }
    return deleted
  }

  /**
   * fenceBelow sets the gc floor of `range` to `before` (never lowering it) and returns the
   * digest of the range's values older than `before` ({@link oldValuesDigest}), after
   * committing every apply already queued. From then on {@link withoutFenced} drops values
   * older than the floor in that range, so the replica can no longer gain a value older
   * than `before`: the digest it returns covers every such value it will ever hold (until
   * the range is dropped); it can only lose some to newer writes. Throws RangeError when
   * `before` is newer than {@link cutoffLimit}.
   */
  fenceBelow(range: HashRange, before: number): RangeDigest {
    const limit = this.cutoffLimit()
    if (before > limit) throw new RangeError(`cutoff ${before} is newer than this node's clock minus its tombstone grace and twice the clock offset bound (${limit})`)
    const current = this.floors.find((f) => f.lo === range.lo && f.hi === range.hi)
    if (!current || current.floor < before) {
      this.db.prepare('INSERT INTO gc_floor (lo, hi, floor) VALUES (?, ?, ?) ON CONFLICT (lo, hi) DO UPDATE SET floor = excluded.floor').run(range.lo, range.hi, before)
      if (current) current.floor = before
      else this.floors.push({lo: range.lo, hi: range.hi, floor: before})
    }
    this.flush()
    return this.oldValuesDigest(range, before)
  }

  /**
   * oldValuesDigest is the digest (same layout as {@link digest}) of the values of `range`
   * whose version's wall clock is before `before`, tombstones left out. Fresh writes do
   * not change it, so replicas compare equal on it under load. Scans the range.
   */
  oldValuesDigest(range: HashRange, before: number): RangeDigest {
    const {bounds} = digestLayout(range)
    const hi = new Array<number>(bounds.length - 1).fill(0)
    const lo = new Array<number>(bounds.length - 1).fill(0)
    const counts = new Array<number>(bounds.length - 1).fill(0)
    for (const row of this.stmts.oldValues.iterate(range.lo, range.hi, before)) {
      const b = bucketOf(bounds, row.h)
      const [a, c] = recordHash(row.k, row.ver, row.v)
      hi[b] = (hi[b]! ^ a) >>> 0
      lo[b] = (lo[b]! ^ c) >>> 0
      counts[b]!++
    }
    return {bounds, buckets: hi.map((x, i) => hex32(x) + hex32(lo[i]!)), counts}
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
   * (staleFloor), and a copy into a joining replica comes from a fenced replica.
   */
  withoutFenced(records: readonly NodeRecord[]): readonly NodeRecord[] {
    if (this.floors.length === 0) return records
    return records.filter((r) => r.value === null || versionWall(r.version) >= this.floorOf(keyHash(r.key)))
  }

  /** clearFloors removes the gc floors over `range` (its data is being dropped; a later copy starts afresh), keeping those parts outside it. */
  private clearFloors(range: HashRange): void {
    const next: GcFloor[] = []
    for (const f of this.floors) {
      if (f.hi <= range.lo || f.lo >= range.hi) next.push(f)
      else {
        if (f.lo < range.lo) next.push({lo: f.lo, hi: range.lo, floor: f.floor})
        if (f.hi > range.hi) next.push({lo: range.hi, hi: f.hi, floor: f.floor})
      }
    }
    if (next.length === this.floors.length && next.every((f, i) => f === this.floors[i])) return
    this.db.transaction(() => {
      this.db.prepare('DELETE FROM gc_floor').run()
      const put = this.db.prepare('INSERT INTO gc_floor (lo, hi, floor) VALUES (?, ?, ?) ON CONFLICT (lo, hi) DO UPDATE SET floor = max(floor, excluded.floor)')
      for (const f of next) put.run(f.lo, f.hi, f.floor)
    })()
    this.floors = next
  }

  /** close commits pending applies and closes the database. Idempotent. */
  close(): void {
    if (this.closed) return
    this.flush()
    this.closed = true
    this.db.close()
  }
}

const EMPTY = Buffer.alloc(0)

/** GcFloor: in [lo, hi), values older than `floor` (version wall ms) are no longer taken from repair. */
interface GcFloor {
  lo: number
  hi: number
  floor: number
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

/**
 * migrateDigestFormat brings a data dir's digest cells to {@link RECORD_HASH_FORMAT}: when
 * the meta table records an older format (or none: a dir from before formats were
 * recorded, or a new one), every fine cell is recomputed from the rows and the format is
 * recorded, in one transaction — a crash midway leaves the old cells and format, and the
 * next open starts over.
 */
function migrateDigestFormat(db: Database.Database): void {
  const row = db.prepare('SELECT value FROM meta WHERE name = ?').get('format') as {value: string} | undefined
  if (row && Number(row.value) >= RECORD_HASH_FORMAT) return
  db.transaction(() => {
    const cells = new Map<number, FineCell>()
    for (const r of db.prepare('SELECT h, k, ver, v FROM kv').iterate() as IterableIterator<Row>) {
      const f = fineOf(r.h)
      let c = cells.get(f)
      if (!c) cells.set(f, (c = {xhi: 0, xlo: 0, n: 0, bytes: 0}))
      const [a, b] = recordHash(r.k, r.ver, r.v)
      c.xhi = (c.xhi ^ a) >>> 0
      c.xlo = (c.xlo ^ b) >>> 0
      c.n++
      c.bytes += r.k.length + (r.v?.length ?? 0)
    }
    db.prepare('DELETE FROM fine').run()
    const put = db.prepare('INSERT INTO fine (f, xhi, xlo, n, bytes) VALUES (?, ?, ?, ?, ?)')
    for (const [f, c] of cells) put.run(f, c.xhi, c.xlo, c.n, c.bytes)
    db.prepare('INSERT INTO meta (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value').run('format', String(RECORD_HASH_FORMAT))
  })()
}

function toRecord(row: Row): NodeRecord {
  return {key: row.k, version: row.ver, value: row.v}
}

function hex32(n: number): string {
  return (n >>> 0).toString(16).padStart(8, '0')
}
