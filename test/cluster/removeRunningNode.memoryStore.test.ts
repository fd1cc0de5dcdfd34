import {describe, expect, it} from 'vitest'
import {initCluster} from '../../src/cluster/initCluster.js'
import {addNode, removeNode} from '../../src/cluster/nodeService.js'
import {parseNodeSpecs} from '../../src/cluster/nodeSpec.js'
import {makeServiceContext} from '../../src/cluster/serviceContext.js'
import {MemoryStore} from '../../src/store/memoryStore.js'

/**
 * `node remove` of an empty node whose `node serve` still runs: the record went and the
 * command said only "node n4 removed", while the process kept serving and holding its
 * registration (alive/<id>) with nothing telling the operator to stop it.
 */

async function clusterWithEmptyN3() {
  const ctx = makeServiceContext(new MemoryStore(), {cluster: 'remove-running'})
  await initCluster(ctx, {shards: 2, rf: 1, nodes: parseNodeSpecs('n1=127.0.0.1:7101,n2=127.0.0.1:7102'), force: false})
  await addNode(ctx, parseNodeSpecs('n3=127.0.0.1:7103')[0]!, undefined)
  return ctx
}

describe('node remove of a node whose process still runs', () => {
  it('Given n3 empty and its node serve registered, Then it is removed and the message says its process still runs and to stop it', async () => {
    const ctx = await clusterWithEmptyN3()
    await ctx.store.put(ctx.keys.alive('n3'), JSON.stringify({node: 'n3', address: '127.0.0.1:7103', pid: 4242, startedAt: new Date().toISOString()}))
    const r = await removeNode(ctx, 'n3')
    expect(r.changed).toBe(true)
    expect(r.message).toBe('node n3 removed; its `shardctl node serve` (pid 4242 at 127.0.0.1:7103) is still running: stop it, as no shard will be placed on it')
    expect(await ctx.store.get(ctx.keys.node('n3'))).toBeUndefined()
  })

  it('Given n3 empty and not running, Then the message is the plain one', async () => {
    const ctx = await clusterWithEmptyN3()
    expect((await removeNode(ctx, 'n3')).message).toBe('node n3 removed')
  })

  it('Given n3 served once (its claim in claims/n3), Then the key (and marks/n3) goes with the record: an n3 added again is a new node', async () => {
    const ctx = await clusterWithEmptyN3()
    await ctx.store.put(ctx.keys.claim('n3'), JSON.stringify({node: 'n3', dataDirId: 'dir-1', instance: 'i-1'}))
    await ctx.store.put(ctx.keys.mark('n3'), JSON.stringify({node: 'n3', dataDirId: 'dir-1', mark: 4, at: '2026-12-04T18:00:00Z'}))
    expect((await removeNode(ctx, 'n3')).changed).toBe(true)
    expect(await ctx.store.get(ctx.keys.claim('n3'))).toBeUndefined()
    expect(await ctx.store.get(ctx.keys.mark('n3'))).toBeUndefined()
  })
})
