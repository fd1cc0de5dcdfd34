import {existsSync, rmSync} from 'node:fs'
import {join} from 'node:path'
import Database from 'better-sqlite3'
import {describe, expect, it} from 'vitest'
import {HASH_SPACE} from '../../src/model/hash.js'
import {CopyReaderStores} from '../../src/node/copyReaderStores.js'
import {DB_FILE} from '../../src/node/lwwSql.js'
import {createRangeStoreFile, rangeStorePath, RangeStoreError} from '../../src/node/rangeStoreFiles.js'
import {scanStores} from '../../src/node/spanScan.js'
import {ALL, engineFixture, rec, v} from './engineFixture.js'

const open = engineFixture('readerstores', {writerThread: false})
const S1 = '00000000-0000-4000-8000-0000000000b1'
const SPAN = {lo: Math.floor(HASH_SPACE / 3), hi: Math.floor(HASH_SPACE / 2)}

/** planted makes a data dir whose main file names range store S1 for SPAN (its file made, empty); returns the copy reader thread's view of it. */
async function planted(dataDirId?: string): Promise<{stores: CopyReaderStores; dir: string}> {
  const {engine, dir} = open()
  await engine.apply([rec('a', v(1), 'x'), rec('b', v(2), 'y')])
  const id = engine.dataDirId()
  createRangeStoreFile(dir, S1, SPAN, dataDirId ?? id, {pageSize: 4096, synchronous: 'NORMAL'}).close()
  const main = new Database(join(dir, DB_FILE))
  main.prepare('INSERT INTO range_store (store, lo, hi) VALUES (?, ?, ?)').run(S1, SPAN.lo, SPAN.hi)
  main.close()
  return {stores: new CopyReaderStores({file: join(dir, DB_FILE), pageSize: 4096, dataDir: dir, dataDirId: id}), dir}
}

describe('CopyReaderStores', () => {
  it('given the table names a store whose file is gone, when a page is read, then it is refused naming the store (after fresh snapshots) and no empty file is made in its place', async () => {
    const {stores, dir} = await planted()
    try {
      rmSync(rangeStorePath(dir, S1))
      expect(() => stores.read((table, pages) => scanStores(table, pages, ALL, undefined, 1 << 20))).toThrow(RangeStoreError)
      expect(() => stores.read((table, pages) => scanStores(table, pages, ALL, undefined, 1 << 20))).toThrow(/range store 00000000-0000-4000-8000-0000000000b1 .*its file is gone/)
      expect(existsSync(rangeStorePath(dir, S1))).toBe(false)
    } finally {
      stores.close()
    }
  })

  it('given a store file made for another data dir, when a page is read, then it is refused', async () => {
    const {stores} = await planted('00000000-0000-4000-8000-00000000dead')
    try {
      expect(() => stores.read((table, pages) => scanStores(table, pages, ALL, undefined, 1 << 20))).toThrow(/belongs to data dir/)
    } finally {
      stores.close()
    }
  })

  it('given the store removed from the table, when read again, then the main file serves the span and the removed store file is never opened again', async () => {
    const {stores, dir} = await planted()
    try {
      expect(stores.read((table) => table.spans().map((s) => s.store))).toEqual([S1])
      const main = new Database(join(dir, DB_FILE))
      main.prepare('DELETE FROM range_store').run()
      main.close()
      rmSync(rangeStorePath(dir, S1))
      const page = stores.read((table, pages) => scanStores(table, pages, ALL, undefined, 1 << 20))
      expect(page.records.map((r) => r.key.toString())).toEqual(expect.arrayContaining(['a', 'b']))
      expect(stores.read((table) => table.isEmpty)).toBe(true)
    } finally {
      stores.close()
    }
  })
})
