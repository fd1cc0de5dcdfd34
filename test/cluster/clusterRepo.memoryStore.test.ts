import {describe, expect, it} from 'vitest'
import {getNode} from '../../src/cluster/clusterRepo.js'
import {initCluster} from '../../src/cluster/initCluster.js'
import {parseNodeSpecs} from '../../src/cluster/nodeSpec.js'
import {makeServiceContext} from '../../src/cluster/serviceContext.js'
import {isUserError} from '../../src/errors/errors.js'
import {MemoryStore} from '../../src/store/memoryStore.js'

const messageOf = async (p: Promise<unknown>) => p.then(() => 'no error', (err) => (isUserError(err, 'NOT_FOUND') ? err.message : String(err)))

describe('getNode', () => {
  it('names the node when the cluster exists without it, and the cluster when that does not exist (a mistyped --cluster is not a missing node)', async () => {
    const store = new MemoryStore()
    const ctx = makeServiceContext(store, {cluster: 'real'})
    await initCluster(ctx, {shards: 1, rf: 1, nodes: parseNodeSpecs('n1=127.0.0.1:1@a'), force: false})
    expect((await getNode(ctx, 'n1')).value.id).toBe('n1')
    expect(await messageOf(getNode(ctx, 'n9'))).toBe('node "n9" does not exist in cluster "real"')
    expect(await messageOf(getNode(makeServiceContext(store, {cluster: 'typo'}), 'n1'))).toBe('cluster "typo" does not exist in etcd')
  })
})
