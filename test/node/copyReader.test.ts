import {describe, expect, it} from 'vitest'
import {HASH_SPACE} from '../../src/model/hash.js'
import {SlabLender} from '../../src/node/copyPageSlabs.js'
import {CopyReader} from '../../src/node/copyReader.js'
import {type CopyReaderData} from '../../src/node/copyReaderProtocol.js'
import {DB_FILE} from '../../src/node/lwwSql.js'
import {decodeRecords} from '../../src/node/recordCodec.js'
import {type StorageEngine} from '../../src/node/storageEngine.js'
import {ALL, engineFixture, rec, v} from './engineFixture.js'

const open = engineFixture('copyreader', {})

/** pagesOf reads a whole range through readCopyPage and returns each page's decoded records and cursor. */
async function pagesOf(engine: StorageEngine, range = ALL, maxBytes = 4096) {
  const pages: {keys: string[]; cursor: string | undefined}[] = []
  let cursor: string | undefined
  for (let i = 0; i < 10_000; i++) {
    const page = await engine.readCopyPage(range, cursor, maxBytes)
    const records = decodeRecords(page.batch)
    expect(page.records).toBe(records.length)
    pages.push({keys: records.map((r) => `${r.key.toString()}@${r.version}=${r.value?.toString() ?? '<tombstone>'}`), cursor: page.cursor})
    if (page.cursor === undefined) return pages
    cursor = page.cursor
  }
  throw new Error('range did not end in 10,000 pages')
}

describe('StorageEngine.readCopyPage (copy reader thread)', {timeout: 60_000}, () => {
  it('pages a range exactly as the main-thread scan does: same records, same cursors, values and tombstones intact', async () => {
    const {engine: threaded} = open()
    const {engine: inline} = open({writerThread: false})
    const records = Array.from({length: 700}, (_, i) => rec(`k-${i}`, v(1000 + i), i % 13 === 0 ? null : `value-${i}-${'z'.repeat(i % 300)}`))
    await threaded.apply(records)
    await inline.apply(records)
    const half = {lo: 0, hi: HASH_SPACE / 2}
    for (const range of [ALL, half]) {
      const viaThread = await pagesOf(threaded, range)
      expect(viaThread.length).toBeGreaterThan(3)
      expect(viaThread).toEqual(await pagesOf(inline, range))
      // And the scan the node used before (main thread, records then encoded) agrees on every page boundary.
      let cursor: string | undefined
      for (const page of viaThread) {
        const scanned = threaded.scan(range, cursor, 4096)
        expect(scanned.records.map((r) => `${r.key.toString()}@${r.version}=${r.value?.toString() ?? '<tombstone>'}`)).toEqual(page.keys)
        expect(scanned.cursor).toBe(page.cursor)
        cursor = page.cursor
      }
    }
    expect((await pagesOf(threaded)).flatMap((p) => p.keys)).toHaveLength(700)
  })

  it('sees a write committed before the read, in the page that covers its key', async () => {
    const {engine} = open()
    await engine.apply([rec('a', v(1), 'one')])
    await engine.apply([rec('a', v(2), 'two')])
    const page = await engine.readCopyPage(ALL, undefined, 1 << 20)
    expect(decodeRecords(page.batch).map((r) => r.value?.toString())).toEqual(['two'])
  })

  it('rejects a malformed cursor or one outside the range with RangeError, and keeps serving after', async () => {
    const {engine} = open()
    await engine.apply([rec('a', v(1), 'x')])
    await expect(engine.readCopyPage(ALL, 'not-a-cursor', 100)).rejects.toBeInstanceOf(RangeError)
    await expect(engine.readCopyPage({lo: 0, hi: 10}, `${HASH_SPACE - 1}.YQ`, 100)).rejects.toBeInstanceOf(RangeError)
    expect((await engine.readCopyPage(ALL, undefined, 100)).records).toBe(1)
  })

  it('rejects reads after the engine closed', async () => {
    const {engine} = open()
    await engine.close()
    await expect(engine.readCopyPage(ALL, undefined, 100)).rejects.toThrow(/closed/)
  })
})

describe('CopyReader and its slabs (copyPageSlabs.ts)', {timeout: 60_000}, () => {
  it('given the thread killed while reads wait in its queue, when the next reads start a new thread, then the lost reads gave their slabs back and the new pages are exact', async () => {
    const {engine, dir} = open()
    const records = Array.from({length: 64}, (_, i) => rec(`dies-${String(i).padStart(2, '0')}`, v(10 + i), `${i}-`.repeat(500)))
    await engine.apply(records)
    const lender = new SlabLender(2, 256 * 1024)
    const reader = new CopyReader({file: `${dir}/${DB_FILE}`, pageSize: 16384, dataDir: dir, dataDirId: engine.dataDirId()}, () => lender)
    try {
      const first = await reader.read(ALL, undefined, 1 << 20)
      expect(first.release).toBeDefined()
      first.release!()
      const queued = [reader.read(ALL, undefined, 1 << 20), reader.read(ALL, undefined, 1 << 20)]
      for (const q of queued) q.catch(() => {})
      expect(lender.available()).toBe(0)
      const exited = (reader as unknown as {worker: {terminate(): Promise<number>}}).worker.terminate()
      const settled = await Promise.allSettled(queued)
      await exited
      // A read the thread answered before it went keeps its slab until released; one it did not gave it back.
      for (const s of settled) if (s.status === 'fulfilled') s.value.release?.()
      expect(lender.available()).toBe(2)
      const again = await reader.read(ALL, undefined, 1 << 20)
      expect(again.release).toBeDefined()
      const line = (r: {key: Buffer; version: string; value: Buffer | null}) => `${r.key.toString()}@${r.version}=${r.value!.toString()}`
      expect(decodeRecords(again.batch).map(line).sort()).toEqual(records.map(line).sort())
      again.release!()
      expect(lender.available()).toBe(2)
    } finally {
      await reader.close()
    }
  })

  it('given a thread that cannot be started, when a read is asked, then it rejects (never throws) and its slab is not kept', async () => {
    const {dir} = open()
    const lender = new SlabLender(2, 1024)
    // A function cannot be cloned into a thread's workerData: the Worker constructor throws at once.
    const reader = new CopyReader({file: `${dir}/${DB_FILE}`, pageSize: 16384, unclonable: () => 1} as unknown as CopyReaderData, () => lender)
    try {
      const asked: (() => Promise<unknown>)[] = [() => reader.read(ALL, undefined, 100), () => reader.listBuckets(ALL, [0], undefined), () => reader.checkpoint()]
      for (const ask of asked) await expect(returned(ask)).rejects.toThrow(/could not be cloned/)
      expect(lender.available()).toBe(2)
    } finally {
      await reader.close()
    }
  })

  it('given an engine whose copy reader thread cannot be started, when a copy page or a bucket listing is read, then the engine rejects (every caller awaits a promise; none catches a throw)', async () => {
    const {engine} = open()
    // The thread starts at the first read: make its workerData unclonable before, as above.
    Object.assign((engine as unknown as {copyReader: {data: object}}).copyReader.data, {unclonable: () => 1})
    await expect(returned(() => engine.readCopyPage(ALL, undefined, 100))).rejects.toThrow(/could not be cloned/)
    await expect(returned(() => engine.listBuckets(ALL, [0]))).rejects.toThrow(/could not be cloned/)
  })
})

/** returned is what `call` returned, or a rejection saying it threw instead: so a test fails on a synchronous throw. */
function returned<T>(call: () => Promise<T>): Promise<T> {
  try {
    return call()
  } catch {
    // Not the error's message: the test matches the rejection's message against it.
    return Promise.reject(new Error('threw synchronously instead of rejecting'))
  }
}
