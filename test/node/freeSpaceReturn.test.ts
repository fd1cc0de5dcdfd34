import {rmSync, statSync} from 'node:fs'
import {crc32} from 'node:zlib'
import {join} from 'node:path'
import Database from 'better-sqlite3'
import {describe, expect, it} from 'vitest'
import {HASH_SPACE} from '../../src/model/hash.js'
import {DB_FILE} from '../../src/node/lwwSql.js'
import {type NodeRecord} from '../../src/node/protocol.js'
import {type StorageEngine} from '../../src/node/storageEngine.js'
import {ALL, engineFixture, v} from './engineFixture.js'

const open = engineFixture('free-space', {synchronous: 'FULL'})
const openInline = engineFixture('free-space-inline', {synchronous: 'NORMAL', writerThread: false})

const KiB = 1024
/** Two halves of the hash space: one is dropped, the other kept. */
const DROPPED = {lo: 0, hi: HASH_SPACE / 2}
const KEPT = {lo: HASH_SPACE / 2, hi: HASH_SPACE}

/** records makes `n` records of `valueBytes` distinct bytes each (nothing a page could share), keyed `prefix-i`. */
function records(prefix: string, n: number, valueBytes: number, wall = 1000): NodeRecord[] {
  return Array.from({length: n}, (_, i) => {
    const value = Buffer.alloc(valueBytes, (i * 31) & 0xff)
    value.writeUInt32LE(i, 0)
    return {key: Buffer.from(`${prefix}-${i}`), version: v(wall + i), value}
  })
}

/** fileBytes is the size of the engine's database file. */
const fileBytes = (dir: string): number => statSync(join(dir, DB_FILE)).size

/**
 * checkpointed copies the WAL into the database file through a connection of the test's own, so
 * the file's size shows what is stored. A PASSIVE checkpoint copies only the frames no reader
 * still needs: with the engine's own threads busy (a loaded CI run) it stopped short and the
 * size read before the drop was too small. Tried again until every frame is in (bounded).
 */
async function checkpointed(dir: string): Promise<void> {
  const db = new Database(join(dir, DB_FILE))
  try {
    for (let i = 0; i < 200; i++) {
      const [r] = db.pragma('wal_checkpoint(PASSIVE)') as {busy: number; log: number; checkpointed: number}[]
      if (!r || r.log === r.checkpointed) return
      await new Promise((res) => setTimeout(res, 25))
    }
  } finally {
    db.close()
  }
}

/** everything lists every record `engine` holds in `range`, in (hash, key) order. */
function everything(engine: StorageEngine, range = ALL): NodeRecord[] {
  const out: NodeRecord[] = []
  let cursor: string | undefined
  do {
    const page = engine.scan(range, cursor, 1 << 20)
    out.push(...page.records)
    cursor = page.cursor
  } while (cursor)
  return out
}

/** summary names each record by key, version, value length and CRC-32: what a comparison needs, without a diff of megabytes of values when it fails. */
function summary(all: readonly NodeRecord[]): string[] {
  return all.map((r) => `${r.key.toString()}@${r.version}:${r.value === null ? 'tombstone' : `${r.value.length}:${crc32(r.value)}`}`)
}

/** fill writes `all` in batches of about 1 MiB (one transaction each, as client traffic or a copy lands). */
async function fill(engine: StorageEngine, all: readonly NodeRecord[]): Promise<void> {
  for (let i = 0; i < all.length; i += 64) await engine.apply(all.slice(i, i + 64))
}

describe('a range drop gives the freed space back to the file system', () => {
  it('given 24 MiB in each half of the hash space, when one half is dropped, then the database file shrinks by about that much and the other half reads back whole, digest included', async () => {
    const {engine, dir} = open()
    // Interleaved in arrival order (so the dropped half's pages sit between the kept half's, not
    // all at the end): the give-back has to move live pages, not only cut the file's tail.
    const all = records('k', 1536, 32 * KiB)
    await fill(engine, all)
    const kept = everything(engine, KEPT)
    const keptDigest = engine.digest(KEPT)
    expect(kept.length).toBeGreaterThan(500)
    await checkpointed(dir)
    const before = fileBytes(dir)
    const dropped = await engine.deleteRange(DROPPED)
    expect(dropped).toBe(all.length - kept.length)
    await engine.returnFreeSpace()
    const after = fileBytes(dir)
    const droppedBytes = dropped * 32 * KiB
    // Most of what was dropped is gone from the file (pages of the index and the cut-off tail's
    // last partial share may stay), and the file holds at least what is kept.
    expect(before - after).toBeGreaterThan(0.8 * droppedBytes)
    expect(after).toBeGreaterThan(kept.length * 32 * KiB)
    expect(summary(everything(engine, KEPT))).toEqual(summary(kept))
    expect(engine.digest(KEPT)).toEqual(keptDigest)
    expect(everything(engine, DROPPED)).toEqual([])
  })

  it('given client writes to the kept half while the space is given back, when all settle, then every acknowledged write reads back and the digest matches a replica that took them without a drop', async () => {
    const {engine} = open()
    await fill(engine, records('k', 1024, 32 * KiB))
    await engine.deleteRange(DROPPED)
    // Writes that race the give-back's transactions (they are queued between them), overwriting and adding keys.
    const racing = [...records('k', 1024, 4 * KiB, 50_000), ...records('new', 256, 16 * KiB, 60_000)]
    const giveBack = engine.returnFreeSpace()
    const acks = []
    for (let i = 0; i < racing.length; i += 16) acks.push(engine.apply(racing.slice(i, i + 16)))
    await Promise.all([giveBack, ...acks])
    await engine.returnFreeSpace()
    // The same history without giving space back: the old values, the drop, then the racing writes.
    const {engine: fresh} = openInline()
    await fresh.apply(records('k', 1024, 32 * KiB))
    await fresh.deleteRange(DROPPED)
    await fresh.apply(racing)
    expect(summary(everything(engine))).toEqual(summary(everything(fresh)))
    expect(engine.digest(ALL)).toEqual(fresh.digest(ALL))
  })

  it('given a data dir made before auto-vacuum (a build that did not set it), when a range is dropped, then the give-back ends at once and changes nothing', async () => {
    const {engine: first, dir} = openInline()
    await first.close()
    // Re-create the file as an older build did: no auto-vacuum (it can only be chosen before the first table).
    const file = join(dir, DB_FILE)
    for (const suffix of ['', '-wal', '-shm']) rmSync(file + suffix, {force: true})
    const raw = new Database(file)
    raw.pragma('page_size = 16384')
    raw.pragma('journal_mode = WAL')
    raw.exec('CREATE TABLE kv (id INTEGER PRIMARY KEY, h INTEGER NOT NULL, k BLOB NOT NULL, ver TEXT NOT NULL, v BLOB, wall INTEGER)')
    raw.close()
    const {engine} = openInline({}, dir)
    await fill(engine, records('k', 256, 32 * KiB))
    const kept = everything(engine, KEPT)
    await checkpointed(dir)
    const before = fileBytes(dir)
    await engine.deleteRange(DROPPED)
    await engine.returnFreeSpace()
    expect(fileBytes(dir)).toBeGreaterThanOrEqual(before)
    expect(summary(everything(engine, KEPT))).toEqual(summary(kept))
  })
})
