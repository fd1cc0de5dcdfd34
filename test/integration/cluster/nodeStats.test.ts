import {afterAll, beforeAll, describe, expect, inject, it} from 'vitest'
import {listStats, listStatsSummaries, readNodeStats} from '../../../src/cluster/clusterRepo.js'
import {clusterStatus} from '../../../src/cluster/clusterStatus.js'
import {initCluster} from '../../../src/cluster/initCluster.js'
import {listNodeViews, showNode} from '../../../src/cluster/nodeService.js'
import {parseNodeSpecs} from '../../../src/cluster/nodeSpec.js'
import {makeServiceContext, type ServiceContext} from '../../../src/cluster/serviceContext.js'
import {type NodeStats, type ShardLoad} from '../../../src/model/stats.js'
import {putNodeStats} from '../../../src/stats/statsPublish.js'
import {type Store} from '../../../src/store/store.js'
import {StoreSet, uniqueCluster} from '../../support/testStore.js'

const stores = new StoreSet()
let ctx: ServiceContext

/** nodeStats is node `node`'s stats over `n` replicas (every 50th with a full key sample, as a node's busiest shards carry). */
function nodeStats(node: string, n: number, first = 0): NodeStats {
  const shards = Array.from({length: n}, (_, i): ShardLoad => {
    const load: ShardLoad = {shard: first + i, reads: (i % 89) * 1.5, writes: i % 7, bytes: 4096 + i, keys: 10 + (i % 31)}
    if (i % 50 === 0) load.keySample = Array.from({length: 64}, (_, k) => 3_000_000_000 + k * 104_729)
    return load
  })
  return {node, at: new Date().toISOString(), clockOffsetMs: 2, clockOk: true, shards}
}

/** readPrefixes wraps a store so every key or prefix read through it is recorded. */
function recordingStore(store: Store, read: string[]): Store {
  return new Proxy(store, {
    get(target, prop, receiver) {
      const value: unknown = Reflect.get(target, prop, receiver)
      if (typeof value !== 'function') return value
      if (['get', 'getAt', 'getTyped', 'list', 'listPage', 'listTyped', 'scan'].includes(String(prop))) {
        return (key: string, ...rest: unknown[]) => {
          read.push(key)
          return (value as (...a: unknown[]) => unknown).call(target, key, ...rest)
        }
      }
      return (value as (...a: unknown[]) => unknown).bind(target)
    },
  })
}

beforeAll(async () => {
  const cluster = uniqueCluster('nodestats')
  ctx = makeServiceContext(stores.open(inject('etcdEndpoint'), cluster), {cluster})
  await initCluster(ctx, {shards: 64, rf: 3, nodes: parseNodeSpecs('n1=127.0.0.1:7001@a,n2=127.0.0.1:7002@b,n3=127.0.0.1:7003@c'), force: false})
})
afterAll(() => stores.closeAll())

describe('node stats on a real etcd', () => {
  it('publishes a node holding 150k replicas, which etcd refuses as one record, and reads every replica back', async () => {
    const big = nodeStats('n1', 150_000)
    // The control: the single record nodes used to write is over etcd's request limit. On a
    // store of its own: the refusal opens that client's circuit breaker.
    const control = stores.open(inject('etcdEndpoint'), ctx.cluster)
    await expect(control.put(`${ctx.keys.prefix}oversize`, JSON.stringify(big))).rejects.toThrow(/RESOURCE_EXHAUSTED|too large/)
    const pages = await putNodeStats(ctx, big)
    expect(pages).toBeGreaterThan(5)
    expect(await readNodeStats(ctx, 'n1')).toEqual(big)
    expect((await listStats(ctx)).find((s) => s.node === 'n1')).toEqual(big)
    const [summary] = await listStatsSummaries(ctx)
    expect(summary).toMatchObject({node: 'n1', replicas: 150_000, pages, bytes: big.shards.reduce((a, l) => a + l.bytes, 0)})
  }, 60_000)

  it('a shorter publish deletes the pages the longer one left, and readers would ignore them anyway', async () => {
    const before = (await ctx.store.list(ctx.keys.nodeLoads('n1'))).items.length
    expect(before).toBeGreaterThan(1)
    const small = nodeStats('n1', 100, 7)
    expect(await putNodeStats(ctx, small, undefined, before)).toBe(1)
    expect((await ctx.store.list(ctx.keys.nodeLoads('n1'))).items.map((i) => i.key)).toEqual([ctx.keys.loadPage('n1', 0)])
    expect(await readNodeStats(ctx, 'n1')).toEqual(small)
    // A page left over (e.g. by a publish whose deletes failed) is beyond the summary's count: not read as load.
    await ctx.store.put(ctx.keys.loadPage('n1', 3), JSON.stringify({node: 'n1', at: 'old', page: 3, shards: [{shard: 99_999, reads: 1, writes: 1, bytes: 1, keys: 1}]}))
    expect(await readNodeStats(ctx, 'n1')).toEqual(small)
  })

  it('node show, node list and cluster status read the node summaries, never a load page', async () => {
    await putNodeStats(ctx, nodeStats('n2', 20_000))
    const read: string[] = []
    const spied = {...ctx, store: recordingStore(ctx.store, read)}
    const shown = await showNode(spied, 'n2')
    expect(shown.load).toMatchObject({replicas: 20_000, clockOffsetMs: 2, clockOk: true, bytes: nodeStats('n2', 20_000).shards.reduce((a, l) => a + l.bytes, 0)})
    expect((await showNode(spied, 'n3')).load).toBeNull()
    await listNodeViews(spied)
    const status = await clusterStatus(spied)
    expect(status.nodes.find((n) => n.id === 'n2')?.load?.keys).toBe(nodeStats('n2', 20_000).shards.reduce((a, l) => a + l.keys, 0))
    expect(read.length).toBeGreaterThan(5)
    expect(read.filter((k) => k.startsWith(ctx.keys.loadsPrefix))).toEqual([])
    expect(read).toContain(ctx.keys.stats('n2'))
  }, 30_000)
})
