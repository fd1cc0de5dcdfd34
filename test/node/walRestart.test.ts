import {statSync} from 'node:fs'
import {join} from 'node:path'
import {describe, expect, it} from 'vitest'
import {DB_FILE} from '../../src/node/lwwSql.js'
import {BACKGROUND_CHECKPOINT_BYTES, type StorageEngine, WRITER_AUTOCHECKPOINT_BYTES} from '../../src/node/storageEngine.js'
import {encodeRecords} from '../../src/node/recordCodec.js'
import {allocTransferable} from '../../src/node/transferableBatch.js'
import {ALL, engineFixture, rec, v} from './engineFixture.js'

const open = engineFixture('walrestart', {})
const MiB = 1024 * 1024

/**
 * copyMiB commits `mib` MiB of copy batches (16 values of 64 KiB each) back to back, as a
 * copy that outruns the background checkpoints does, and returns the WAL file's size after
 * them: SQLite never shrinks the file, so that is the longest the WAL grew.
 */
async function copyMiB(engine: StorageEngine, dir: string, mib: number): Promise<number> {
  // Start the copy reader thread (it runs the background checkpoints) before the copy, as a node that serves copies has.
  await engine.readCopyPage(ALL, undefined, 1 << 20)
  const value = Buffer.alloc(64 * 1024, 0x33)
  for (let b = 0; b < mib; b++) {
    const records = Array.from({length: 16}, (_, i) => ({key: Buffer.from(`wr-${b}-${i}`), version: v(1 + b), value}))
    await engine.applyCopyBatch(records, 'copy/wr', JSON.stringify({b}), encodeRecords(records, allocTransferable), false)
  }
  return statSync(join(dir, `${DB_FILE}-wal`)).size
}

describe('the WAL restarts under a copy', {timeout: 120_000}, () => {
  const mib = 80
  it('given a copy committing past walRestartBytes, when a background checkpoint finds the WAL that long, then the copy waits for the checkpoints to copy all of it, and the WAL restarts instead of growing toward the writer backstop', async () => {
    expect(mib * MiB).toBeLessThan(WRITER_AUTOCHECKPOINT_BYTES)
    const waits: string[] = []
    const {engine, dir} = open({writerThread: true, walRestartBytes: 8 * MiB, onWalWait: (outcome) => waits.push(outcome)})
    const wal = await copyMiB(engine, dir, mib)
    // Each wait was heard, and they restarted the WAL (nothing here holds an old snapshot).
    expect(waits.length).toBeGreaterThanOrEqual(2)
    expect(waits.filter((w) => w === 'restarted').length).toBeGreaterThanOrEqual(2)
    // The first checkpoint begins after BACKGROUND_CHECKPOINT_BYTES; the WAL restarts after it, and every such interval after.
    expect(wal).toBeLessThan(BACKGROUND_CHECKPOINT_BYTES * 2.5)
    expect(engine.rangeTotals(ALL).keys).toBe(mib * 16)
    expect(engine.metaValue('copy/wr')).toBe(JSON.stringify({b: mib - 1}))
    // Client writes still go through, and everything reads back.
    await engine.apply([rec('client', v(1), 'x')], {clientWrite: true})
    expect(engine.get(Buffer.from('client'))?.value?.toString()).toBe('x')
    expect(engine.get(Buffer.from(`wr-${mib - 1}-15`))?.value?.length).toBe(64 * 1024)
  })

  it('given the wait turned off, when the same copy commits, then the WAL grows with it (what the wait is for)', async () => {
    const waits: string[] = []
    const {engine, dir} = open({writerThread: true, walRestartBytes: Infinity, onWalWait: (outcome) => waits.push(outcome)})
    const wal = await copyMiB(engine, dir, mib)
    expect(wal).toBeGreaterThan(BACKGROUND_CHECKPOINT_BYTES * 2.5)
    expect(waits).toEqual([])
    expect(engine.rangeTotals(ALL).keys).toBe(mib * 16)
  })
})
