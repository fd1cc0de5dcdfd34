import {statSync} from 'node:fs'
import {join} from 'node:path'
import {describe, expect, it} from 'vitest'
import {DB_FILE} from '../../src/node/lwwSql.js'
import {BACKGROUND_CHECKPOINT_BYTES, WRITER_AUTOCHECKPOINT_BYTES} from '../../src/node/storageEngine.js'
import {allocTransferable} from '../../src/node/transferableBatch.js'
import {encodeRecords} from '../../src/node/recordCodec.js'
import {ALL, engineFixture, v} from './engineFixture.js'

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
})
