import {mkdtempSync, rmSync} from 'node:fs'
import Database from 'better-sqlite3'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterEach, describe, expect, it} from 'vitest'
import {DB_FILE} from '../../src/node/lwwSql.js'
import {ForeignClusterError, hasDatabase, StorageEngine} from '../../src/node/storageEngine.js'

const dirs: string[] = []
const newDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'shardctl-identity-'))
  dirs.push(d)
  return d
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, {recursive: true, force: true})
})

describe('data dir cluster identity', () => {
  it('Given a dir opened for one cluster incarnation, When opened for another (same node id), Then it is refused', async () => {
    const dir = newDir()
    await StorageEngine.open({dir, nodeId: 'n1', clusterUid: 'uid-aaaaaaaa', tombstoneGraceMs: 1, writerThread: false}).close()
    await StorageEngine.open({dir, nodeId: 'n1', clusterUid: 'uid-aaaaaaaa', tombstoneGraceMs: 1, writerThread: false}).close()
    expect(() => StorageEngine.open({dir, nodeId: 'n1', clusterUid: 'uid-bbbbbbbb', tombstoneGraceMs: 1, writerThread: false})).toThrow(ForeignClusterError)
    expect(() => StorageEngine.open({dir, nodeId: 'n1', clusterUid: 'uid-bbbbbbbb', tombstoneGraceMs: 1, writerThread: false})).toThrow(/earlier incarnation.*uid-aaaaaaaa/)
  })

  it('Given a dir from before cluster uids (or a cluster without one), Then it adopts the uid once, and an unknown uid checks nothing', async () => {
    const dir = newDir()
    await StorageEngine.open({dir, nodeId: 'n1', tombstoneGraceMs: 1, writerThread: false}).close()
    await StorageEngine.open({dir, nodeId: 'n1', clusterUid: 'uid-aaaaaaaa', tombstoneGraceMs: 1, writerThread: false}).close()
    await StorageEngine.open({dir, nodeId: 'n1', tombstoneGraceMs: 1, writerThread: false}).close()
    expect(() => StorageEngine.open({dir, nodeId: 'n1', clusterUid: 'uid-cccccccc', tombstoneGraceMs: 1, writerThread: false})).toThrow(ForeignClusterError)
  })
})

describe('data dir id', () => {
  const open = (dir: string) => StorageEngine.open({dir, nodeId: 'n1', clusterUid: 'uid-aaaaaaaa', tombstoneGraceMs: 1, writerThread: false})
  const idOf = async (dir: string) => {
    const e = open(dir)
    try {
      return e.dataDirId()
    } finally {
      await e.close()
    }
  }

  it('Given a new dir, Then it has no database until opened, gets a random id on first open and keeps it on every reopen; another dir gets another id', async () => {
    const dir = newDir()
    expect(hasDatabase(dir)).toBe(false)
    const id = await idOf(dir)
    expect(hasDatabase(dir)).toBe(true)
    expect(id).toMatch(/^[0-9a-f-]{36}$/)
    expect(await idOf(dir)).toBe(id)
    expect(await idOf(newDir())).not.toBe(id)
  })

  it('Given a dir made before dir ids (no meta row), When opened, Then it gets one, kept from then on', async () => {
    const dir = newDir()
    await idOf(dir)
    const db = new Database(join(dir, DB_FILE))
    db.prepare("DELETE FROM meta WHERE name = 'dataDir'").run()
    db.close()
    const id = await idOf(dir)
    expect(id).toMatch(/^[0-9a-f-]{36}$/)
    expect(await idOf(dir)).toBe(id)
  })
})
