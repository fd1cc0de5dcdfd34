import {mkdtempSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import Database from 'better-sqlite3'
import {describe, expect, it} from 'vitest'
import {DB_FILE} from '../../src/node/lwwSql.js'
import {engineFixture, rec, v} from './engineFixture.js'

const open = engineFixture('pagesize', {})

/** dirMadeWithPageSize makes a data dir whose database file was created with `pageSize`, as a node started under another SHARDCTL_SQLITE_PAGE_SIZE leaves it. */
function dirMadeWithPageSize(pageSize: number): string {
  const dir = mkdtempSync(join(tmpdir(), 'shardctl-pagesize-'))
  const db = new Database(join(dir, DB_FILE))
  db.pragma(`page_size = ${pageSize}`)
  db.pragma('journal_mode = WAL')
  db.exec('CREATE TABLE made_before (x)')
  db.close()
  return dir
}

describe('the WAL bookkeeping counts pages of the file, not of SHARDCTL_SQLITE_PAGE_SIZE', () => {
  it('given a new data dir, then the engine counts in the size it was created with (16384 by default)', () => {
    const {engine} = open({writerThread: false})
    expect(engine.pageSize).toBe(16384)
  })

  it.each([4096, 65536])('given a data dir created with %i-byte pages, when the engine opens it (SHARDCTL_SQLITE_PAGE_SIZE unset: 16384), then it counts WAL frames in the file\'s page size, which the open left as it was', async (pageSize) => {
    const dir = dirMadeWithPageSize(pageSize)
    const {engine} = open({writerThread: true}, dir)
    await engine.apply([rec('k', v(1), 'x')], {clientWrite: true})
    expect(engine.pageSize).toBe(pageSize)
    const check = new Database(join(dir, DB_FILE), {readonly: true})
    expect(check.pragma('page_size', {simple: true})).toBe(pageSize)
    check.close()
  })
})
