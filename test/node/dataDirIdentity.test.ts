import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterEach, describe, expect, it} from 'vitest'
import {ForeignClusterError, StorageEngine} from '../../src/node/storageEngine.js'

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
