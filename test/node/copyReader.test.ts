import {describe, expect, it} from 'vitest'
import {HASH_SPACE} from '../../src/model/hash.js'
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
