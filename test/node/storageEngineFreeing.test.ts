/**
 * StorageEngine's freeing operations on a full disk (StorageEngine.freeing), without a full
 * disk: the writer's first delete transaction is made to fail as SQLITE_FULL does, so the
 * retry, the refusal of client writes meanwhile and the steps onFreeingFull picks are seen
 * on a real engine. Full-disk runs on real processes: test/integration/node/diskReserve.test.ts.
 */
import {describe, expect, it} from 'vitest'
import {type FullRetry} from '../../src/node/diskReservePolicy.js'
import {RangeDropStoppedError, type StorageEngine} from '../../src/node/storageEngine.js'
import {StorageFullError} from '../../src/node/storageFull.js'
import {ALL, engineFixture, rec, v} from './engineFixture.js'
import {HASH_SPACE} from '../../src/model/hash.js'

const open = engineFixture('freeing', {writerThread: false})

/** failDeletes makes `engine`'s next `times` delete transactions fail as a full disk does (rolled back: nothing deleted), calling `during` at each. */
function failDeletes(engine: StorageEngine, times: number, during: () => Promise<void> = async () => {}): {ops: string[]} {
  const writer = (engine as unknown as {writer: {run: (op: {op: string}, ...rest: unknown[]) => Promise<unknown>}}).writer
  const run = writer.run.bind(writer)
  const seen = {ops: [] as string[]}
  let left = times
  writer.run = async (op, ...rest) => {
    seen.ops.push(op.op)
    if ((op.op === 'deleteRows' || op.op === 'deleteSlice' || op.op === 'purge') && left > 0) {
      left--
      await during()
      throw new StorageFullError('/data')
    }
    return run(op, ...rest)
  }
  return seen
}

async function filled(opts: {onFreeingFull?: (what: string, checkpointed: boolean) => Promise<FullRetry>}) {
  const {engine} = open(opts)
  await engine.apply(Array.from({length: 200}, (_, i) => rec(`k${i}`, v(1), 'value')))
  return engine
}

describe('StorageEngine freeing operations on a full disk', () => {
  it('given a drop refused for want of room, when onFreeingFull releases the reserve, then the transaction is retried and the drop completes; client writes meanwhile are refused with the full-disk error', async () => {
    const asked: [string, boolean][] = []
    let writeDuring: Promise<unknown> | undefined
    const engine = await filled({
      onFreeingFull: async (what, checkpointed) => {
        asked.push([what, checkpointed])
        writeDuring = engine.apply([rec('new', v(2), 'x')]).then(() => 'stored', (err: unknown) => err)
        return 'release'
      },
    })
    failDeletes(engine, 1)
    expect(await engine.deleteRange(ALL)).toBe(200)
    expect(asked).toEqual([['a shard data drop', false]])
    expect(await writeDuring).toBeInstanceOf(StorageFullError)
    expect(engine.totals().keys).toBe(0)
    expect(engine.spendingReserve()).toBe(false)
    // Once the drop ended, writes go again.
    await engine.apply([rec('after', v(3), 'y')])
    expect(engine.get(Buffer.from('after'))?.value?.toString()).toBe('y')
  })

  it('given no reserve left, when a purge is refused twice, then it checkpoints, retries once, and then fails with the full-disk error; nothing was purged', async () => {
    const asked: boolean[] = []
    const {engine} = open({onFreeingFull: async (_what, checkpointed) => (asked.push(checkpointed), checkpointed ? 'fail' : 'checkpoint')})
    await engine.apply([rec('gone', v(1), null)])
    const seen = failDeletes(engine, 2)
    await expect(engine.purgeTombstones(ALL, 1_000_000)).rejects.toBeInstanceOf(StorageFullError)
    expect(asked).toEqual([false, true])
    expect(seen.ops).toEqual(['purge', 'checkpoint', 'purge'])
    expect(engine.tombstoneCount()).toBe(1)
    expect(engine.spendingReserve()).toBe(false)
  })

  it('given no onFreeingFull (a node without the reserve wiring), when a drop is refused, then it fails with the full-disk error at once', async () => {
    const engine = await filled({})
    failDeletes(engine, 1)
    await expect(engine.deleteRange(ALL)).rejects.toBeInstanceOf(StorageFullError)
    expect(engine.totals().keys).toBe(200)
  })

  it('given a drop refused for want of room while the shard came back to the node and a write to it committed, when retried, then it asks keepGoing again and stops: the write is kept', async () => {
    // The writer pumps the next queued write as soon as the refused delete's reply is handled,
    // before freeing's catch runs (and before writes are refused), so a write the node accepted
    // once its map held the range again can commit between the refusal and the retry. The retry
    // re-runs a transaction chosen before the map changed: it must ask keepGoing first, as every
    // other drop transaction does.
    let holdsAgain = false
    const engine = await filled({onFreeingFull: async () => 'release'})
    failDeletes(engine, 1, async () => {
      holdsAgain = true
      await engine.apply([rec('k5', v(2), 'acknowledged')])
    })
    await expect(engine.deleteRange(ALL, () => !holdsAgain)).rejects.toBeInstanceOf(RangeDropStoppedError)
    expect(engine.get(Buffer.from('k5'))?.value?.toString()).toBe('acknowledged')
    expect(engine.spendingReserve()).toBe(false)
  })

  it('given a drop whose gc floor removal was refused for want of room, when another drop and a new fence land before its retry, then the retry writes the floors as they are now: after a restart the new fence holds and the other drop\'s floor stays gone', async () => {
    const {engine, dir} = open({clock: () => 10_000_000, onFreeingFull: async () => 'release'})
    const quarter = HASH_SPACE / 4
    const [a, b, c] = [{lo: 0, hi: quarter}, {lo: quarter, hi: 2 * quarter}, {lo: 2 * quarter, hi: 3 * quarter}]
    await engine.fenceBelow(a, 5000)
    await engine.fenceBelow(b, 5000)
    const writer = (engine as unknown as {writer: {run: (op: {op: string}, ...rest: unknown[]) => Promise<unknown>}}).writer
    const run = writer.run.bind(writer)
    let refused = false
    writer.run = async (op, ...rest) => {
      if (op.op === 'floors' && !refused) {
        refused = true
        // While drop a waits to retry: drop b runs whole, and range c is fenced.
        await engine.deleteRange(b)
        await engine.fenceBelow(c, 6000)
        throw new StorageFullError('/data')
      }
      return run(op, ...rest)
    }
    await engine.deleteRange(a)
    expect([engine.fenceOf(a), engine.fenceOf(b), engine.fenceOf(c)]).toEqual([0, 0, 6000])
    await engine.close()
    const {engine: again} = open({clock: () => 10_000_000}, dir)
    expect([again.fenceOf(a), again.fenceOf(b), again.fenceOf(c)]).toEqual([0, 0, 6000])
  })

  it('given a full disk, when a purge round confirms its gc fence and raises the write mark (both small writes refused for want of room), then each spends the reserve and lands: the purge after them can free the disk', async () => {
    const asked: string[] = []
    const {engine} = open({clock: () => 10_000_000, onFreeingFull: async (what) => (asked.push(what), 'release')})
    await engine.apply([rec('gone', v(1), null)])
    const writer = (engine as unknown as {writer: {run: (op: {op: string}, ...rest: unknown[]) => Promise<unknown>}}).writer
    const run = writer.run.bind(writer)
    const refuse = new Set(['floors', 'meta'])
    writer.run = async (op, ...rest) => {
      if (refuse.delete(op.op)) throw new StorageFullError('/data')
      return run(op, ...rest)
    }
    const {fence} = await engine.fencePending(ALL, 5000)
    await engine.confirmFence(ALL, 5000, fence)
    expect(await engine.raiseWriteMark(0, true)).toBe(1)
    expect(asked).toEqual(['a gc fence before a tombstone purge', 'a write mark raise before a tombstone purge'])
    expect(engine.fenceOf(ALL)).toBe(5000)
    expect(engine.writeMark()).toBe(1)
    expect(engine.spendingReserve()).toBe(false)
  })

  it('given a full disk, when the periodic write mark publish raises the mark (not for a purge), then it fails with the full-disk error without touching the reserve', async () => {
    const asked: string[] = []
    const {engine} = open({onFreeingFull: async (what) => (asked.push(what), 'release')})
    const writer = (engine as unknown as {writer: {run: (op: {op: string}, ...rest: unknown[]) => Promise<unknown>}}).writer
    const run = writer.run.bind(writer)
    writer.run = async (op, ...rest) => (op.op === 'meta' ? Promise.reject(new StorageFullError('/data')) : run(op, ...rest))
    await expect(engine.raiseWriteMark()).rejects.toBeInstanceOf(StorageFullError)
    expect(asked).toEqual([])
    expect(engine.writeMark()).toBe(0)
  })
})
