import {statSync} from 'node:fs'
import {join} from 'node:path'
import {describe, expect, it} from 'vitest'
import {DB_FILE} from '../../src/node/lwwSql.js'
import {BACKGROUND_CHECKPOINT_BYTES, WAL_FLUSH_BYTES, WRITER_AUTOCHECKPOINT_BYTES} from '../../src/node/storageEngine.js'
import {allocTransferable} from '../../src/node/transferableBatch.js'
import {encodeRecords} from '../../src/node/recordCodec.js'
import {ALL, engineFixture, rec, v} from './engineFixture.js'

const open = engineFixture('checkpoint', {})

describe('WAL checkpoints in the background', {timeout: 120_000}, () => {
  it('given copy batches committed past the background threshold, when they settle, then the copy reader thread copies them into the database file while the writer backstop is far from reached, and every row reads back', async () => {
    const {engine, dir} = open({writerThread: true})
    const dbFile = join(dir, DB_FILE)
    const before = statSync(dbFile).size
    const value = Buffer.alloc(64 * 1024, 0x5a)
    const perBatch = 16
    const batches = Math.ceil((1.5 * BACKGROUND_CHECKPOINT_BYTES) / (perBatch * value.length))
    expect(batches * perBatch * value.length).toBeLessThan(WRITER_AUTOCHECKPOINT_BYTES / 2)
    for (let b = 0; b < batches; b++) {
      const records = Array.from({length: perBatch}, (_, i) => ({key: Buffer.from(`ck-${b}-${i}`), version: v(1 + b), value}))
      await engine.applyCopyBatch(records, 'copy/ck', JSON.stringify({b}), encodeRecords(records, allocTransferable), false)
    }
    // Only a checkpoint writes pages into the database file; the writer's own would wait for the backstop.
    let grown = statSync(dbFile).size - before
    for (let i = 0; i < 200 && grown < BACKGROUND_CHECKPOINT_BYTES; i++) {
      await new Promise((r) => setTimeout(r, 50))
      grown = statSync(dbFile).size - before
    }
    expect(grown).toBeGreaterThanOrEqual(BACKGROUND_CHECKPOINT_BYTES)
    expect(engine.rangeTotals(ALL).keys).toBe(batches * perBatch)
    expect(engine.get(Buffer.from(`ck-${batches - 1}-${perBatch - 1}`))?.value?.equals(value)).toBe(true)
    expect(engine.metaValue('copy/ck')).toBe(JSON.stringify({b: batches - 1}))
  })

  it('given an engine without threads, when written, then it checkpoints as SQLite does by itself (no copy reader to ask)', async () => {
    const {engine, dir} = open({writerThread: false})
    const value = Buffer.alloc(64 * 1024, 1)
    for (let b = 0; b < 20; b++) await engine.applyCopyBatch(Array.from({length: 16}, (_, i) => ({key: Buffer.from(`nt-${b}-${i}`), version: v(1), value})), 'copy/nt', '{}', undefined, false)
    // 20 MiB crossed SQLite's default autocheckpoint (1000 pages) in the writer's own commits.
    expect(statSync(join(dir, DB_FILE)).size).toBeGreaterThan(8 * 1024 * 1024)
    expect(engine.rangeTotals(ALL).keys).toBe(320)
  })

  it('given copy slices committed without fsync, when they pass the flush limit, then the WAL is fdatasynced off the writer thread; when fsyncd client commits come between them, then none is needed', async () => {
    const heard: string[] = []
    const {engine} = open({writerThread: true, synchronous: 'FULL', onWalSync: (file) => heard.push(file)})
    const value = Buffer.alloc(64 * 1024, 7)
    const slice = (b: number) => Array.from({length: 16}, (_, i) => ({key: Buffer.from(`fl-${b}-${i}`), version: v(1 + b), value}))
    const slices = Math.ceil((1.5 * WAL_FLUSH_BYTES) / (16 * value.length))
    expect(slices * 16 * value.length).toBeLessThan(BACKGROUND_CHECKPOINT_BYTES)
    // Each slice followed by a client write: every client commit fsyncs the WAL, so nothing piles up.
    for (let b = 0; b < slices; b++) {
      await engine.applyCopyBatch(slice(b), 'copy/fl', '{}', undefined, false)
      await engine.apply([rec(`client-${b}`, v(1), 'x')], {clientWrite: true})
    }
    expect(heard).toEqual([])
    // The same slices alone: about 1.5 flush limits unsynced, so one flush.
    for (let b = 0; b < slices; b++) await engine.applyCopyBatch(slice(slices + b), 'copy/fl', '{}', undefined, false)
    for (let i = 0; i < 200 && heard.length === 0; i++) await new Promise((r) => setTimeout(r, 25))
    expect(heard).toEqual(['wal'])
    expect(engine.rangeTotals(ALL).keys).toBe(2 * slices * 16 + slices)
  })

  it('given commits past the checkpoint limit, when the background checkpoint ran, then the database file is fdatasynced after it, and closing the engine at once waits for that sync', async () => {
    const heard: string[] = []
    const {engine} = open({writerThread: true, synchronous: 'FULL', onWalSync: (file) => heard.push(file)})
    const value = Buffer.alloc(64 * 1024, 9)
    const batches = Math.ceil(BACKGROUND_CHECKPOINT_BYTES / (16 * value.length)) + 1
    for (let b = 0; b < batches; b++) await engine.applyCopyBatch(Array.from({length: 16}, (_, i) => ({key: Buffer.from(`db-${b}-${i}`), version: v(1), value})), 'copy/db', '{}', undefined, true)
    // Every commit fsync'd (durable), so no WAL flush: only the checkpoint and its database sync.
    await engine.close()
    expect(heard).toEqual(['db'])
  })
})
