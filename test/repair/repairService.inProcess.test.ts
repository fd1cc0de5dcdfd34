import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {listShards} from '../../src/cluster/clusterRepo.js'
import {initCluster} from '../../src/cluster/initCluster.js'
import {parseNodeSpecs} from '../../src/cluster/nodeSpec.js'
import {makeServiceContext, type ServiceContext} from '../../src/cluster/serviceContext.js'
import {type Shard} from '../../src/model/shard.js'
import {repairShards} from '../../src/repair/repairService.js'
import {MemoryStore} from '../../src/store/memoryStore.js'
import {type InProcessNode, startInProcessNode} from '../support/inProcessNode.js'
import {recordsIn} from '../support/nodeTestData.js'
import {StaticShardMap} from '../support/staticShardMap.js'

/**
 * Anti-entropy (repairShards) against two storage nodes serving in this process with their
 * storage threads, the cluster's truth on the memory store: bucket listings are bounded in
 * bytes, and a replica that lost everything still gets every record back.
 */

const TOKEN = 'repair-in-process-token-0123456789'

let ctx: ServiceContext
let shard: Shard
const nodes = new Map<string, InProcessNode>()

beforeAll(async () => {
  const store = new MemoryStore()
  ctx = makeServiceContext(store, {cluster: 'repair-bounded'}, () => new Date())
  await initCluster(ctx, {shards: 1, rf: 2, nodes: parseNodeSpecs('n1=127.0.0.1:1,n2=127.0.0.1:2'), force: false})
  await store.put(ctx.keys.token, TOKEN)
  shard = (await listShards(ctx)).shards[0]!.value
  for (const id of ['n1', 'n2']) {
    const node = await startInProcessNode({nodeId: id, map: new StaticShardMap(id, [shard]), token: TOKEN, tombstoneGraceMs: 3_600_000, timeoutMs: 20_000, dirPrefix: `shardctl-repair-${id}-`, writerThread: true})
    nodes.set(id, node)
    await store.put(ctx.keys.alive(id), JSON.stringify({node: id, address: `127.0.0.1:${node.port}`, pid: 1, startedAt: 't'}))
  }
}, 60_000)

afterAll(async () => {
  for (const n of nodes.values()) await n.close()
})

describe('repairShards with byte-bounded bucket listings', {timeout: 120_000}, () => {
  it('given a replica that lost every record, when repaired with listings cut at a few buckets, then it gets every record back in one round and the replicas converge', async () => {
    const n1 = nodes.get('n1')!
    const n2 = nodes.get('n2')!
    const full = recordsIn(shard, 'full', 1500, 1000)
    for (let i = 0; i < full.length; i += 250) await n1.client.apply(shard.id, shard.epoch, full.slice(i, i + 250), 'write')
    // n2 holds a few records of its own (written while n1 was away).
    await n2.client.apply(shard.id, shard.epoch, recordsIn(shard, 'only-n2', 7, 10), 'write')
    // Count n1's listings and how many of the asked buckets each answered.
    const answers: {asked: number; answered: number}[] = []
    const original = n1.engine.listBuckets.bind(n1.engine)
    n1.engine.listBuckets = async (range, buckets, maxBytes) => {
      const l = await original(range, buckets, maxBytes)
      answers.push({asked: new Set(buckets).size, answered: l.answered})
      return l
    }
    const report = await repairShards(ctx, {shard: shard.id, listingBytes: 50_000, purge: false})
    n1.engine.listBuckets = original
    const [r] = report.shards
    expect(r?.converged, JSON.stringify(r)).toBe(true)
    expect(r?.fixed).toEqual({n1: 7, n2: 1500})
    expect(r?.rounds).toBe(1)
    // The bound split n1's listing into many answers of a few buckets each.
    expect(answers.length).toBeGreaterThan(10)
    expect(answers.filter((a) => a.answered < a.asked).length).toBe(answers.length - 1)
    const [d1, d2] = await Promise.all([n1.client.digest(shard.id, shard.epoch), n2.client.digest(shard.id, shard.epoch)])
    expect(d2.buckets).toEqual(d1.buckets)
    expect(d2.counts.reduce((a, b) => a + b, 0)).toBe(1507)
  })
})
