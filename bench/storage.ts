/**
 * bench/storage.ts — storage engine choice, measured in one run (`npm run bench:storage`).
 *
 * Writes N records of 1 KiB values with LWW semantics (read the current version, write if
 * newer) from C concurrent writers applying B records each, then range-scans everything in
 * (hash, key) order. Engines:
 *  - sqlite/FULL   : the node's StorageEngine (better-sqlite3, WAL, synchronous=FULL, group
 *                    commit, digest cells maintained in the same transaction) — the product.
 *  - sqlite/NORMAL : the same with synchronous=NORMAL (fsync at checkpoints only): the cost of
 *                    durability on power loss.
 *  - lmdb          : lmdb-js 3 (durable commits, its own async write batching), keys
 *                    hash(4 B big-endian)+key so a range is a key-range scan; LWW read-compare-put
 *                    in a transaction; digest cells kept in memory only (not persisted), so it
 *                    does a little less work than sqlite here.
 * Prints rates and ratios against sqlite/FULL. Env: BENCH_N (default 100000), BENCH_VALUE
 * (bytes, default 1024), BENCH_WRITERS (default 64), BENCH_BATCH (default 1).
 */
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {HASH_SPACE, keyHash} from '../src/model/hash.js'
import {formatHlc} from '../src/model/hlc.js'
import {fineOf} from '../src/node/digestLayout.js'
import {type NodeRecord} from '../src/node/protocol.js'
import {recordHash} from '../src/node/recordHash.js'
import {StorageEngine} from '../src/node/storageEngine.js'

const N = Number(process.env.BENCH_N ?? 100_000)
const VALUE = Number(process.env.BENCH_VALUE ?? 1024)
const WRITERS = Number(process.env.BENCH_WRITERS ?? 64)
const BATCH = Number(process.env.BENCH_BATCH ?? 1)
const COPY_BATCH = 1000

interface Result {
  engine: string
  writesPerSec: number
  copyPerSec: number
  scanPerSec: number
  scanMiBPerSec: number
  digestMs?: number
}

/** records makes `n` records; `hashOrder` sorts them as a snapshot chunk delivers them (a copy writes in (hash, key) order). */
function records(n: number, salt: string, hashOrder = false): NodeRecord[] {
  const value = Buffer.alloc(VALUE, 0x5a)
  const version = formatHlc({wall: Date.now(), counter: 0, writer: 'bench'})
  const out = Array.from({length: n}, (_, i) => ({key: Buffer.from(`${salt}:user:${i}`), version, value}))
  if (hashOrder) out.sort((a, b) => keyHash(a.key) - keyHash(b.key) || Buffer.compare(a.key, b.key))
  return out
}

/** runWriters applies `recs` from WRITERS concurrent loops of BATCH records each; returns records/s. */
async function runWriters(recs: NodeRecord[], apply: (batch: NodeRecord[]) => Promise<unknown>, writers = WRITERS, batch = BATCH): Promise<number> {
  let next = 0
  const t0 = performance.now()
  await Promise.all(
    Array.from({length: writers}, async () => {
      while (next < recs.length) {
        const start = next
        next += batch
        await apply(recs.slice(start, Math.min(start + batch, recs.length)))
      }
    }),
  )
  return recs.length / ((performance.now() - t0) / 1000)
}

async function benchSqlite(sync: 'FULL' | 'NORMAL'): Promise<Result> {
  const dir = mkdtempSync(join(tmpdir(), 'shardctl-bench-sqlite-'))
  try {
    const engine = StorageEngine.open({dir, tombstoneGraceMs: 3_600_000, synchronous: sync})
    const writesPerSec = await runWriters(records(N, 'w'), (b) => engine.apply(b))
    const copyPerSec = await runWriters(records(N, 'c', true), (b) => engine.apply(b), 1, COPY_BATCH)
    const t0 = performance.now()
    let cursor: string | undefined
    let count = 0
    let bytes = 0
    for (let i = 0; i < 10_000_000; i++) {
      const page = engine.scan({lo: 0, hi: HASH_SPACE}, cursor, 1024 * 1024)
      count += page.records.length
      bytes += page.bytes
      cursor = page.cursor
      if (!cursor) break
    }
    const scanS = (performance.now() - t0) / 1000
    if (count !== 2 * N) throw new Error(`scan saw ${count} records, expected ${2 * N}`)
    const d0 = performance.now()
    engine.digest({lo: 0, hi: HASH_SPACE})
    engine.digest({lo: 123_457, hi: 3_000_000_001})
    const digestMs = (performance.now() - d0) / 2
    engine.close()
    return {engine: `sqlite/${sync}`, writesPerSec, copyPerSec, scanPerSec: count / scanS, scanMiBPerSec: bytes / 1048576 / scanS, digestMs}
  } finally {
    rmSync(dir, {recursive: true, force: true})
  }
}

async function benchLmdb(): Promise<Result | {engine: string; error: string}> {
  let lmdb: typeof import('lmdb')
  try {
    lmdb = await import('lmdb')
  } catch (err) {
    return {engine: 'lmdb', error: `not available: ${(err as Error).message.split('\n')[0]}`}
  }
  const dir = mkdtempSync(join(tmpdir(), 'shardctl-bench-lmdb-'))
  try {
    const db = lmdb.open<Buffer, Buffer>({path: dir, keyEncoding: 'binary', encoding: 'binary', compression: false})
    const fineX = new Uint32Array(2 ** 16)
    const dbKey = (k: Buffer) => {
      const out = Buffer.allocUnsafe(4 + k.length)
      out.writeUInt32BE(keyHash(k), 0)
      k.copy(out, 4)
      return out
    }
    const encode = (r: NodeRecord) => {
      const ver = Buffer.from(r.version, 'latin1')
      const out = Buffer.allocUnsafe(1 + 1 + ver.length + (r.value?.length ?? 0))
      out[0] = r.value === null ? 1 : 0
      out[1] = ver.length
      ver.copy(out, 2)
      r.value?.copy(out, 2 + ver.length)
      return out
    }
    const apply = (batch: NodeRecord[]) =>
      db.transaction(() => {
        for (const r of batch) {
          const k = dbKey(r.key)
          const old = db.get(k)
          const oldVer = old ? old.toString('latin1', 2, 2 + old[1]!) : undefined
          if (oldVer !== undefined && oldVer >= r.version) continue
          const [hi] = recordHash(r.key, r.version, r.value)
          const f = fineOf(k.readUInt32BE(0))
          fineX[f] = (fineX[f]! ^ hi) >>> 0
          db.put(k, encode(r))
        }
      })
    const writesPerSec = await runWriters(records(N, 'w'), apply)
    const copyPerSec = await runWriters(records(N, 'c', true), apply, 1, COPY_BATCH)
    const t0 = performance.now()
    let count = 0
    let bytes = 0
    for (const {key, value} of db.getRange({})) {
      count++
      bytes += key.length + value.length
    }
    const scanS = (performance.now() - t0) / 1000
    if (count !== 2 * N) throw new Error(`lmdb scan saw ${count} records, expected ${2 * N}`)
    await db.close()
    return {engine: 'lmdb', writesPerSec, copyPerSec, scanPerSec: count / scanS, scanMiBPerSec: bytes / 1048576 / scanS}
  } finally {
    rmSync(dir, {recursive: true, force: true})
  }
}

function fmt(n: number): string {
  return n >= 100 ? Math.round(n).toLocaleString('en-US') : n.toFixed(1)
}

const results: (Result | {engine: string; error: string})[] = []
console.log(`storage bench: ${N.toLocaleString('en-US')} records × ${VALUE} B values; writes from ${WRITERS} concurrent writers × ${BATCH} record(s); copy in batches of ${COPY_BATCH}; node ${process.version}`)
results.push(await benchSqlite('FULL'))
results.push(await benchSqlite('NORMAL'))
results.push(await benchLmdb())
const base = results[0] as Result
console.log('')
console.log(['engine', 'writes/s', 'copy rec/s', 'scan rec/s', 'scan MiB/s', 'digest ms', 'writes ×', 'copy ×', 'scan ×'].map((h) => h.padStart(12)).join(''))
for (const r of results) {
  if ('error' in r) {
    console.log(`${r.engine.padStart(12)}  ${r.error}`)
    continue
  }
  const cells = [r.engine, fmt(r.writesPerSec), fmt(r.copyPerSec), fmt(r.scanPerSec), fmt(r.scanMiBPerSec), r.digestMs === undefined ? '-' : r.digestMs.toFixed(2), (r.writesPerSec / base.writesPerSec).toFixed(2), (r.copyPerSec / base.copyPerSec).toFixed(2), (r.scanPerSec / base.scanPerSec).toFixed(2)]
  console.log(cells.map((c) => c.padStart(12)).join(''))
}
console.log('')
console.log('ratios are against sqlite/FULL (the shipped setting); digest = one whole-range and one unaligned-range digest, averaged')
