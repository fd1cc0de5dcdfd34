import {describe, expect, it} from 'vitest'
import {clusterStatus} from '../../src/cluster/clusterStatus.js'
import {initCluster} from '../../src/cluster/initCluster.js'
import {parseNodeSpecs} from '../../src/cluster/nodeSpec.js'
import {makeServiceContext} from '../../src/cluster/serviceContext.js'
import {MemoryStore} from '../../src/store/memoryStore.js'

/** statusWith runs `cluster status` on a memory store whose server says `version` (or refuses to). */
async function statusWith(version: () => Promise<string | undefined>) {
  const store = new MemoryStore()
  store.serverVersion = version
  const ctx = makeServiceContext(store, {cluster: 'v'}, () => new Date(0))
  await initCluster(ctx, {shards: 4, rf: 1, nodes: parseNodeSpecs('n1=127.0.0.1:7401'), force: false})
  return clusterStatus(ctx)
}

describe("cluster status's etcd version", () => {
  it('reports the version and its known bugs with the one-line warning', async () => {
    const status = await statusWith(async () => '3.4.23')
    expect(status.etcd).toMatchObject({version: '3.4.23', warning: expect.stringMatching(/^etcd 3\.4\.23 has 2 known bugs .*upgrade etcd to 3\.4\.31\+ or 3\.5\.13\+$/)})
    expect(status.etcd!.bugs.map((b) => b.ref)).toEqual([expect.stringContaining('#15247'), expect.stringContaining('compaction')])
  })

  it('reports a fixed version without a warning', async () => {
    expect((await statusWith(async () => '3.5.13')).etcd).toEqual({version: '3.5.13', bugs: [], warning: null})
  })

  it('still answers, without the field, when etcd refuses to say its version', async () => {
    const status = await statusWith(() => Promise.reject(new Error('permission denied')))
    expect(status.etcd).toBeNull()
    expect(status.shards).toBe(4)
  })
})
