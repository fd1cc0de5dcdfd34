import {join} from 'node:path'
import Database from 'better-sqlite3'
import {describe, expect, it} from 'vitest'
import {DigestCells} from '../../src/node/digestCells.js'
import {DB_FILE, LwwWriter, openConnection} from '../../src/node/lwwSql.js'
import {engineFixture} from './engineFixture.js'

const open = engineFixture('markdurable', {synchronous: 'NORMAL', writerThread: false})

/**
 * The write mark is published only once the dir holds it, so it must be on disk before etcd
 * has it. At --fsync normal nothing else is fsync'd at commit: a power loss after the publish
 * would leave an intact dir (one that lost only what --fsync normal may lose) below its
 * published mark, and the node refused at its next start, exit 2. The mark's commit alone
 * runs at FULL; since the WAL is a log, its fsync makes every commit before it durable too.
 */
describe('a durable meta commit on a NORMAL connection', () => {
  function writerOn(dir: string) {
    const db = openConnection(join(dir, DB_FILE), 'NORMAL', 16384)
    return {db, writer: new LwwWriter(db, new DigestCells()), level: () => Number(db.pragma('synchronous', {simple: true}))}
  }

  it('commits at FULL and leaves the connection at NORMAL; other meta commits stay at NORMAL', () => {
    const {dir} = open()
    const {db, writer, level} = writerOn(dir)
    try {
      expect(level()).toBe(1)
      const seen: number[] = []
      const pragma = db.pragma.bind(db)
      const run = db.transaction.bind(db)
      // The level each transaction runs at, read as it begins.
      db.transaction = ((fn: (...a: unknown[]) => unknown) => run((...a: unknown[]) => {
        seen.push(Number(pragma('synchronous', {simple: true})))
        return fn(...a)
      })) as typeof db.transaction
      writer.setMeta('writeMark', '1', true)
      writer.setMeta('copy/1', '{}')
      expect(seen).toEqual([2, 1])
      expect(level()).toBe(1)
      expect(db.prepare("SELECT value FROM meta WHERE name = 'writeMark'").get()).toEqual({value: '1'})
    } finally {
      db.close()
    }
  })
})

describe('StorageEngine.raiseWriteMark at synchronous NORMAL', () => {
  it('commits the mark at FULL (the writer in this thread: its pragma calls are seen here)', async () => {
    const {engine} = open()
    const calls: string[] = []
    const pragma = Database.prototype.pragma
    Database.prototype.pragma = function (this: Database.Database, src: string, opts?: {simple?: boolean}) {
      calls.push(src)
      return pragma.call(this, src, opts)
    } as typeof pragma
    try {
      await engine.setMetaValue('copy/1', '{}')
      expect(calls.filter((c) => c.startsWith('synchronous ='))).toEqual([])
      expect(await engine.raiseWriteMark()).toBe(1)
      expect(calls.filter((c) => c.startsWith('synchronous ='))).toEqual(['synchronous = FULL', 'synchronous = NORMAL'])
    } finally {
      Database.prototype.pragma = pragma
    }
    expect(engine.writeMark()).toBe(1)
  })
})
