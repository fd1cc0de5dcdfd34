import {mkdtempSync, rmSync} from 'node:fs'
import {createServer} from 'node:http'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, describe, expect, it} from 'vitest'
import {startEtcd} from '../../../src/localEtcd/etcdProcess.js'
import {freePort} from '../../../src/localEtcd/freePort.js'
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

  it('given another server answering /health as a healthy etcd on the chosen client port, then the start does not take it for its etcd (its child exits on the taken port)', async () => {
    const squatter = createServer((req, res) => (req.url === '/health' ? res.writeHead(200).end('{"health":"true"}') : res.writeHead(404).end()))
    const port = await freePort()
    await new Promise<void>((r) => squatter.listen(port, '127.0.0.1', r))
    const dir = mkdtempSync(join(tmpdir(), 'shardctl-etcd-squat-'))
    try {
      const outcome = await startEtcd({dataDir: dir, clientPort: port, peerPort: await freePort(), readyTimeoutMs: 10_000}).then(
        async (e) => {
          await e.stop()
          return 'started'
        },
        (err: Error) => err.message,
      )
      expect(outcome).toMatch(/etcd did not become healthy/)
    } finally {
      squatter.close()
      rmSync(dir, {recursive: true, force: true})
    }
  })
})
