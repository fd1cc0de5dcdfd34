import {mkdtempSync, rmSync} from 'node:fs'
import {createServer, type Server} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, describe, expect, it} from 'vitest'
import {startLocalEtcd, stopLocalEtcd} from '../../../src/localEtcd/localEtcdService.js'
import {StoreSet, uniqueCluster} from '../../support/testStore.js'

const stores = new StoreSet()
const cluster = uniqueCluster('localetcd')
const cwd = mkdtempSync(join(tmpdir(), 'shardctl-localetcd-'))

afterAll(async () => {
  stores.closeAll()
  await stopLocalEtcd(cwd, true)
  rmSync(cwd, {recursive: true, force: true})
})

function listenOn(port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(port, '127.0.0.1', () => resolve(server))
  })
}

describe('shardctl etcd start / stop', () => {
  it('Given etcd stop without --purge, When etcd start runs again, Then it serves the same endpoint and data, so nodes and routers started against the first one reconnect; a taken port falls back to a free one', async () => {
    const first = await startLocalEtcd(cwd)
    await stores.open(first.endpoint!, cluster).put(`/shardctl/${cluster}/meta`, '"kept"')
    await stopLocalEtcd(cwd)

    const second = await startLocalEtcd(cwd)
    expect(second.endpoint).toBe(first.endpoint)
    expect((await stores.open(second.endpoint!, cluster).get(`/shardctl/${cluster}/meta`))?.value).toBe('"kept"')
    await stopLocalEtcd(cwd)

    const squatter = await listenOn(Number(new URL(first.endpoint!).port))
    try {
      const third = await startLocalEtcd(cwd)
      expect(third.endpoint).not.toBe(first.endpoint)
      expect((await stores.open(third.endpoint!, cluster).get(`/shardctl/${cluster}/meta`))?.value).toBe('"kept"')
    } finally {
      squatter.close()
    }
  }, 90_000)
})
