import type Database from 'better-sqlite3'
import {describe, expect, it} from 'vitest'
import {HASH_SPACE} from '../../src/model/hash.js'
import {createRangeStoreFile} from '../../src/node/rangeStoreFiles.js'
import {RANGE_STORE_MARK, syncRangeStoreMark} from '../../src/node/rangeStoreMark.js'
import {engineFixture, mainSql} from './engineFixture.js'

const open = engineFixture('storemark', {writerThread: false, readRangeStores: true})
const S1 = '00000000-0000-4000-8000-0000000000c1'
const SPAN = {lo: Math.floor(HASH_SPACE / 4), hi: Math.floor(HASH_SPACE / 2)}

/**
 * previousBuildOpens is the node check of StorageEngine.open in every build before this one
 * (session 40's 1bdd8351 and session 41's main alike, verbatim but for `opts`): the first
 * check their open makes that refuses, before anything in the dir changes.
 */
function previousBuildOpens(db: Database.Database, nodeId: string, dir: string): void {
  const row = db.prepare('SELECT value FROM meta WHERE name = ?').get('node') as {value: string} | undefined
  if (row && row.value !== nodeId) throw new Error(`data dir ${dir} belongs to node "${row.value}", not "${nodeId}"`)
}

/** madeDir opens and closes an engine (as node `nodeId`, or none) on a new dir; returns the dir and its id. */
async function madeDir(nodeId?: string): Promise<{dir: string; id: string}> {
  const {engine, dir} = open(nodeId === undefined ? {} : {nodeId})
  const id = engine.dataDirId()
  await engine.close()
  return {dir, id}
}

/** addStore makes S1's file and, in one main-file transaction, records it and (with `mark`) syncs the mark, as a split-out's commit will. */
function addStore(dir: string, dataDirId: string, mark = true): void {
  createRangeStoreFile(dir, S1, SPAN, dataDirId, {pageSize: 4096, synchronous: 'NORMAL'}).close()
  mainSql(dir, (db) =>
    db.transaction(() => {
      db.prepare('INSERT INTO range_store (store, lo, hi) VALUES (?, ?, ?)').run(S1, SPAN.lo, SPAN.hi)
      if (mark) syncRangeStoreMark(db)
    })(),
  )
}

/** removeStore deletes S1's row and syncs the mark in one main-file transaction (as a merge-back's commit will). */
function removeStore(dir: string): void {
  mainSql(dir, (db) =>
    db.transaction(() => {
      db.prepare('DELETE FROM range_store WHERE store = ?').run(S1)
      syncRangeStoreMark(db)
    })(),
  )
}

const nodeRow = (dir: string) => mainSql(dir, (db) => (db.prepare('SELECT value FROM meta WHERE name = ?').get('node') as {value: string} | undefined)?.value)

describe('the range store mark', () => {
  it('given the first range store recorded, then builds before this one refuse the dir with their one-line node error and this build opens it; once the last is removed, both open it', async () => {
    const {dir, id} = await madeDir('n1')
    expect(nodeRow(dir)).toBe('n1')

    addStore(dir, id)
    expect(nodeRow(dir)).toBe(`n1${RANGE_STORE_MARK}`)
    expect(() => mainSql(dir, (db) => previousBuildOpens(db, 'n1', dir))).toThrow(`data dir ${dir} belongs to node "n1${RANGE_STORE_MARK}", not "n1"`)
    const reopened = open({nodeId: 'n1'}, dir).engine
    expect(reopened.dataDirId()).toBe(id)
    await reopened.close()
    expect(nodeRow(dir)).toBe(`n1${RANGE_STORE_MARK}`)
    // This build still tells another node's dir apart, naming the node without the mark.
    expect(() => open({nodeId: 'n2'}, dir)).toThrow(`data dir ${dir} belongs to node "n1", not "n2"`)

    removeStore(dir)
    expect(nodeRow(dir)).toBe('n1')
    expect(() => mainSql(dir, (db) => previousBuildOpens(db, 'n1', dir))).not.toThrow()
  })

  it('given a dir with no node row, when a range store is recorded, then the row holds only the mark (refused by earlier builds), this build records its node before it, and removing the store leaves the node alone', async () => {
    const {dir, id} = await madeDir()
    expect(nodeRow(dir)).toBeUndefined()

    addStore(dir, id)
    expect(nodeRow(dir)).toBe(RANGE_STORE_MARK)
    expect(() => mainSql(dir, (db) => previousBuildOpens(db, 'n1', dir))).toThrow(/belongs to node/)
    await open({nodeId: 'n1'}, dir).engine.close()
    expect(nodeRow(dir)).toBe(`n1${RANGE_STORE_MARK}`)
    removeStore(dir)
    expect(nodeRow(dir)).toBe('n1')
  })

  it('given a dir whose table names a store but whose node row lacks the mark (recorded by hand or by session 41 tests), when this build opens it, then the mark is set', async () => {
    const {dir, id} = await madeDir('n1')
    addStore(dir, id, false)
    expect(nodeRow(dir)).toBe('n1')
    await open({nodeId: 'n1'}, dir).engine.close()
    expect(nodeRow(dir)).toBe(`n1${RANGE_STORE_MARK}`)
  })

  it('given a dir refused for its range stores (readRangeStores off), then the open changes nothing, the mark included', async () => {
    const {dir, id} = await madeDir('n1')
    addStore(dir, id, false)
    expect(() => open({nodeId: 'n1', readRangeStores: false}, dir)).toThrow(/does not route yet/)
    expect(nodeRow(dir)).toBe('n1')
  })
})
