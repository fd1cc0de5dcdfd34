import {describe, expect, it} from 'vitest'
import {initCluster} from '../../src/cluster/initCluster.js'
import {parseNodeSpecs} from '../../src/cluster/nodeSpec.js'
import {makeServiceContext} from '../../src/cluster/serviceContext.js'
import {sharedNodeView} from '../../src/executor/clusterView.js'
import {MemoryStore} from '../../src/store/memoryStore.js'

async function setup() {
  const store = new MemoryStore()
  const ctx = makeServiceContext(store, {cluster: 'view'}, () => new Date(0))
  await initCluster(ctx, {shards: 4, rf: 1, nodes: parseNodeSpecs('n1=127.0.0.1:7501,n2=127.0.0.1:7502'), force: false})
  await store.put(ctx.keys.alive('n1'), JSON.stringify({node: 'n1', address: '127.0.0.1:7501', pid: 1, startedAt: new Date(0).toISOString()}))
  const lists: string[] = []
  const list = store.list.bind(store)
  store.list = async (prefix, opts) => {
    lists.push(prefix)
    return list(prefix, opts)
  }
  return {store, ctx, lists}
}

describe('sharedNodeView', () => {
  it('Given 16 runners observing at once, Then they share one read of nodes and alive', async () => {
    const {ctx, lists} = await setup()
    const view = sharedNodeView(ctx, () => 0)
    const views = await Promise.all(Array.from({length: 16}, () => view()))
    expect(lists.filter((p) => p === ctx.keys.nodesPrefix)).toHaveLength(1)
    expect(lists.filter((p) => p === ctx.keys.alivePrefix)).toHaveLength(1)
    for (const v of views) expect({registered: [...v.registered].sort(), alive: [...v.alive]}).toEqual({registered: ['n1', 'n2'], alive: ['n1']})
  })

  it('Given a view, When it is older than the max age, Then the next call reads again and sees a node that went down', async () => {
    const {store, ctx, lists} = await setup()
    let now = 1000
    const view = sharedNodeView(ctx, () => now, 250)
    await view()
    await store.delete(ctx.keys.alive('n1'))
    now += 249
    expect([...(await view()).alive]).toEqual(['n1'])
    expect(lists).toHaveLength(2)
    now += 1
    expect([...(await view()).alive]).toEqual([])
    expect(lists).toHaveLength(4)
  })

  it('Given a failed read, Then every waiting caller sees the error and the next call reads again', async () => {
    const {store, ctx} = await setup()
    const view = sharedNodeView(ctx, () => 0)
    const list = store.list.bind(store)
    store.list = async () => {
      throw new Error('etcd gone')
    }
    const results = await Promise.allSettled([view(), view()])
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected'])
    store.list = list
    expect([...(await view()).registered].sort()).toEqual(['n1', 'n2'])
  })
})
