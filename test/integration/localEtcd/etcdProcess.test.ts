import {afterAll, describe, expect, it} from 'vitest'
import {processAlive} from '../../../src/daemon/processAlive.js'
import {startPrivateEtcd, type PrivateEtcd} from '../../support/privateEtcd.js'
import {StoreSet, uniqueCluster} from '../../support/testStore.js'

const stores = new StoreSet()
const cluster = uniqueCluster('etcdproc')
const started: PrivateEtcd[] = []

afterAll(async () => {
  stores.closeAll()
  await Promise.all(started.map((e) => e.dispose()))
})

describe('startEtcd', () => {
  it('given a local etcd restarted twice, then it keeps its port and data, and stop() ends the last process (no leak)', async () => {
    const etcd = await startPrivateEtcd()
    started.push(etcd)
    const store = stores.open(etcd.endpoint, cluster)
    await store.put(`/shardctl/${cluster}/meta`, '"kept"')
    const pids = [etcd.etcd.pid]

    await etcd.restart()
    pids.push(etcd.etcd.pid)
    await etcd.restart()
    pids.push(etcd.etcd.pid)

    expect(new Set(pids).size).toBe(3)
    expect(pids.slice(0, 2).some(processAlive)).toBe(false)
    expect(etcd.etcd.endpoint).toBe(etcd.endpoint)
    expect((await stores.open(etcd.endpoint, cluster).get(`/shardctl/${cluster}/meta`))?.value).toBe('"kept"')

    await etcd.etcd.stop()

    expect(pids.some(processAlive)).toBe(false)
  })
})
