/**
 * bench/storageCeilings.ts — how fast a destination's storage could take a copy on this
 * machine, by design (`npm run bench:storage-ceilings`, issue 12).
 *
 * bench:move's copy row is judged against half the disk's fsync'd write rate. A node stores
 * values inside SQLite in WAL mode: every copied byte is written to the WAL and then again
 * into the database file by a checkpoint, so the disk carries each byte twice before any
 * LWW merge, digest, network or client work. This bench measures, in one process and one
 * run on the same disk, what three ways of storing the same copy (64 KiB values in (hash,
 * key) order, committed in 2 MiB batches) cost with none of that work:
 *
 * - `sqlite-wal`: the node's layout (rowid table, unique (h, k) index, 16 KiB pages, WAL,
 *   commits without fsync, a checkpoint every 16 MiB that fsyncs the WAL and the database
 *   file): the ceiling of the shipped design;
 * - `value-log`: values appended to a log file (one write and one fdatasync per batch), and
 *   only a small pointer row per value in the same SQLite layout (a design sketched in
 *   bench/README.md, not built): each byte reaches the disk once;
 * - `sqlite-journal`: the same layout in a database file of its own in rollback-journal mode
 *   (`journal_mode = PERSIST`, `synchronous = FULL`: each commit fsyncs), the layout a
 *   shard-per-file store would give a copy into an empty shard (not built). Rows arrive in
 *   key order, so nearly every page a commit writes lies past the file's end, and SQLite
 *   journals only pages that existed before the transaction: each byte reaches the disk
 *   about once, with no checkpoint;
 * - `file`: the values appended to a file with an fdatasync per batch: the disk's own limit
 *   for this write pattern.
 *
 * It prints each one's wall rate and process CPU (user + system) per MiB, and their ratio
 * to `file`. One thread does everything, so the wall time is CPU plus waits for the disk
 * in series; a node overlaps them across threads.
 */
import {closeSync, fdatasyncSync, mkdtempSync, openSync, readFileSync, rmSync, writevSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import Database from 'better-sqlite3'
import {keyHash} from '../src/model/hash.js'

const MiB = 1024 * 1024
const TOTAL_MIB = Number(process.env.STORAGE_CEILING_MIB ?? 512)
const VALUE_BYTES = 64 * 1024
const BATCH_BYTES = 2 * MiB
const PAGE_SIZE = Number(process.env.STORAGE_CEILING_PAGE_SIZE ?? 16384)
const CHECKPOINT_BYTES = 16 * MiB

interface Value {
  h: number
  key: Buffer
  value: Buffer
}

/** values makes the copy: distinct 64 KiB values (nothing compresses), sorted by (hash, key) as a source streams them. */
function values(): Value[] {
  const n = Math.ceil((TOTAL_MIB * MiB) / VALUE_BYTES)
  const out: Value[] = []
  for (let i = 0; i < n; i++) {
    const value = Buffer.allocUnsafe(VALUE_BYTES)
    for (let j = 0; j < VALUE_BYTES; j += 4) value.writeUInt32LE((i * 2654435761 + j * 40503) >>> 0, j)
    const key = Buffer.from(`ceiling-${String(i).padStart(8, '0')}`)
    out.push({h: keyHash(key), key, value})
  }
  return out.sort((a, b) => a.h - b.h || Buffer.compare(a.key, b.key))
}

/** batches cuts the copy into runs of about BATCH_BYTES, as a destination commits its slices. */
function batches(all: readonly Value[]): Value[][] {
  const out: Value[][] = []
  for (let i = 0; i < all.length; i += BATCH_BYTES / VALUE_BYTES) out.push(all.slice(i, i + BATCH_BYTES / VALUE_BYTES))
  return out
}

/** openKv opens a database with the node's kv layout and pragmas (see src/node/lwwSql.ts and storageEngine.ts), commits not fsync'd; `journal: 'persist'` instead opens it in rollback-journal mode with every commit fsync'd. */
function openKv(file: string, valueColumn: 'v BLOB' | 'p BLOB', journal: 'wal' | 'persist' = 'wal'): Database.Database {
  const db = new Database(file)
  db.pragma(`page_size = ${PAGE_SIZE}`)
  db.pragma(`journal_mode = ${journal}`)
  db.pragma(journal === 'wal' ? 'synchronous = OFF' : 'synchronous = FULL')
  db.pragma('cache_size = -65536')
  if (journal === 'wal') db.pragma('wal_autocheckpoint = 0')
  db.exec(`CREATE TABLE kv (id INTEGER PRIMARY KEY, h INTEGER NOT NULL, k BLOB NOT NULL, ver TEXT NOT NULL, ${valueColumn}, wall INTEGER);
           CREATE UNIQUE INDEX kv_hash_key ON kv (h, k);`)
  return db
}

/** checkpointer runs a checkpoint that fsyncs the WAL and the database file every CHECKPOINT_BYTES committed, as the node's background checkpoints do. */
function checkpointer(db: Database.Database): (bytes: number) => void {
  let since = 0
  return (bytes) => {
    since += bytes
    if (since < CHECKPOINT_BYTES) return
    since = 0
    db.pragma('synchronous = FULL')
    db.pragma('wal_checkpoint(TRUNCATE)')
    db.pragma('synchronous = OFF')
  }
}

const VERSION = '000000000000000-0000-bench'

function sqliteWal(dir: string, all: readonly Value[]): void {
  const db = openKv(join(dir, 'wal.sqlite'), 'v BLOB')
  const insert = db.prepare('INSERT INTO kv (h, k, ver, v) VALUES (?, ?, ?, ?)')
  const commit = db.transaction((batch: Value[]) => {
    for (const r of batch) insert.run(r.h, r.key, VERSION, r.value)
  })
  const checkpoint = checkpointer(db)
  for (const batch of batches(all)) {
    commit(batch)
    checkpoint(batch.length * VALUE_BYTES)
  }
  db.pragma('synchronous = FULL')
  db.pragma('wal_checkpoint(TRUNCATE)')
  db.close()
}

function sqliteJournal(dir: string, all: readonly Value[]): void {
  const db = openKv(join(dir, 'journal.sqlite'), 'v BLOB', 'persist')
  const insert = db.prepare('INSERT INTO kv (h, k, ver, v) VALUES (?, ?, ?, ?)')
  const commit = db.transaction((batch: Value[]) => {
    for (const r of batch) insert.run(r.h, r.key, VERSION, r.value)
  })
  // Each commit is durable on its own (journal and database fsync'd): no checkpoint to come.
  for (const batch of batches(all)) commit(batch)
  db.close()
}

function valueLog(dir: string, all: readonly Value[]): void {
  const db = openKv(join(dir, 'log.sqlite'), 'p BLOB')
  const log = openSync(join(dir, 'values.log'), 'w')
  const insert = db.prepare('INSERT INTO kv (h, k, ver, p) VALUES (?, ?, ?, ?)')
  const commit = db.transaction((batch: Value[], at: number) => {
    for (const r of batch) {
      const pointer = Buffer.allocUnsafe(12)
      pointer.writeUIntLE(at, 0, 6)
      pointer.writeUInt32LE(r.value.length, 6)
      insert.run(r.h, r.key, VERSION, pointer)
      at += r.value.length
    }
  })
  const checkpoint = checkpointer(db)
  let at = 0
  for (const batch of batches(all)) {
    // The values are durable before any row that points at them commits.
    writevSync(log, batch.map((r) => r.value))
    fdatasyncSync(log)
    commit(batch, at)
    at += batch.length * VALUE_BYTES
    checkpoint(batch.length * 64)
  }
  db.pragma('synchronous = FULL')
  db.pragma('wal_checkpoint(TRUNCATE)')
  db.close()
  closeSync(log)
}

function fileOnly(dir: string, all: readonly Value[]): void {
  const fd = openSync(join(dir, 'file.bin'), 'w')
  for (const batch of batches(all)) {
    writevSync(fd, batch.map((r) => r.value))
    fdatasyncSync(fd)
  }
  closeSync(fd)
}

interface Figure {
  name: string
  seconds: number
  cpuSeconds: number
  /** writtenBytes are the bytes the process passed to write calls (`wchar` of /proc/self/io): WAL and checkpoint writes both count. */
  writtenBytes: number
}

/** bytesWritten reads the process's `wchar` (bytes passed to write(2) and its kin, page cache or not). */
function bytesWritten(): number {
  const line = readFileSync('/proc/self/io', 'utf8').split('\n').find((l) => l.startsWith('wchar:'))
  return Number(line?.split(/\s+/)[1] ?? Number.NaN)
}

function measure(name: string, run: (dir: string) => void): Figure {
  const dir = mkdtempSync(join(tmpdir(), `shardctl-ceiling-${name}-`))
  try {
    const cpu0 = process.cpuUsage()
    const written0 = bytesWritten()
    const started = performance.now()
    run(dir)
    const seconds = (performance.now() - started) / 1000
    const cpu = process.cpuUsage(cpu0)
    return {name, seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6, writtenBytes: bytesWritten() - written0}
  } finally {
    rmSync(dir, {recursive: true, force: true})
  }
}

function main(): void {
  const all = values()
  const mib = (all.length * VALUE_BYTES) / MiB
  console.log(`storage ceilings: ${mib} MiB of 64 KiB values in (hash, key) order, ${BATCH_BYTES / MiB} MiB batches, 1-minute load average ${readFileSync('/proc/loadavg', 'utf8').split(' ')[0]}`)
  // Twice each, alternating, so a burst of other work on the machine shows as a spread.
  const order: [string, (dir: string) => void][] = [
    ['file', (d) => fileOnly(d, all)],
    ['sqlite-wal', (d) => sqliteWal(d, all)],
    ['value-log', (d) => valueLog(d, all)],
    ['sqlite-journal', (d) => sqliteJournal(d, all)],
  ]
  const figures: Figure[] = []
  for (let round = 0; round < 2; round++) for (const [name, run] of order) figures.push(measure(name, run))
  const best = (name: string) => figures.filter((f) => f.name === name).sort((a, b) => a.seconds - b.seconds)[0]!
  const file = best('file')
  console.log('| store | MiB/s wall (runs) | CPU ms per MiB | bytes written per byte stored | wall vs file |')
  console.log('| --- | ---: | ---: | ---: | ---: |')
  for (const [name] of order) {
    const runs = figures.filter((f) => f.name === name)
    const b = best(name)
    console.log(`| ${name} | ${(mib / b.seconds).toFixed(1)} (${runs.map((f) => (mib / f.seconds).toFixed(1)).join(', ')}) | ${((b.cpuSeconds * 1000) / mib).toFixed(2)} | ${(b.writtenBytes / (mib * MiB)).toFixed(2)} | ${(file.seconds / b.seconds).toFixed(2)} |`)
  }
  console.log(`1-minute load average ${readFileSync('/proc/loadavg', 'utf8').split(' ')[0]} at the end`)
}

main()
