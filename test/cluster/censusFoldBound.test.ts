import {describe, expect, it} from 'vitest'
import {countShards} from '../../src/cluster/censusCounts.js'
import {clusterStatus} from '../../src/cluster/clusterStatus.js'
import {listShards} from '../../src/cluster/clusterRepo.js'
import {initCluster} from '../../src/cluster/initCluster.js'
import {parseNodeSpecs} from '../../src/cluster/nodeSpec.js'
import {makeServiceContext, type ServiceContext} from '../../src/cluster/serviceContext.js'
import {CENSUS_FOLD_THRESHOLD, foldCensusIfDue, readCensus, shardWritePuts} from '../../src/cluster/shardCensus.js'
import {ShardSchema} from '../../src/model/shard.js'
import {MemoryStore} from '../../src/store/memoryStore.js'

/**
 * The census delta keys stay bounded without a running executor: any process reading the
 * census (here `cluster status`) folds once more than CENSUS_FOLD_THRESHOLD are pending,
 * and a fold racing another fold or live shard writers never loses or double-counts a write.
 */

const NODES = ['n1', 'n2', 'n3', 'n4']

async function setup(): Promise<{store: MemoryStore; ctx: ServiceContext}> {
  const store = new MemoryStore()
  const ctx = makeServiceContext(store, {cluster: 'bound'}, () => new Date(0))
  await initCluster(ctx, {shards: 16, rf: 3, nodes: parseNodeSpecs(NODES.map((n, i) => `${n}=127.0.0.1:${7401 + i}@z${i % 3}`).join(',')), force: false})
  return {store, ctx}
}

/** writeShards makes `count` shard writes as the executor does (CAS on the shard, census delta in the same txn), each moving one replica to the next node. */
async function writeShards(ctx: ServiceContext, count: number, seed = 0): Promise<void> {
  for (let i = 0; i < count; i++) {
    const id = (seed + i) % 16
    const kv = await ctx.store.get(ctx.keys.shard(id))
    if (!kv) throw new Error(`shard ${id} missing`)
    const before = ShardSchema.parse(JSON.parse(kv.value))
    const used = new Set(before.replicas.map((r) => r.node))
    const spare = NODES.find((n) => !used.has(n)) ?? NODES[0]!
    const after = {...before, epoch: before.epoch + 1, replicas: [...before.replicas.slice(1), {node: spare, role: 'voter' as const}]}
    const rev = await ctx.store.commit({compares: [{key: kv.key, modRevision: kv.modRevision}], puts: shardWritePuts(ctx, [{before, after}])})
    if (rev === undefined) i-- // a concurrent writer won the shard: retry it
  }
}

async function exact(ctx: ServiceContext): Promise<void> {
  const census = await readCensus(ctx)
  expect(census?.counts).toEqual(countShards((await listShards(ctx)).shards.map((s) => s.value)))
}

describe('census deltas are bounded without an executor', () => {
  it('Given exactly the threshold pending, When cluster status runs, Then nothing is folded; Given one more, Then status folds them all and the counts stay exact', async () => {
    const {ctx} = await setup()
    await writeShards(ctx, CENSUS_FOLD_THRESHOLD)
    await clusterStatus(ctx)
    expect((await readCensus(ctx))?.pendingDeltas).toBe(CENSUS_FOLD_THRESHOLD)
    await writeShards(ctx, 1)
    const status = await clusterStatus(ctx)
    expect(status.shards).toBe(16)
    expect((await readCensus(ctx))?.pendingDeltas).toBe(0)
    await exact(ctx)
  }, 60_000)

  it('Given many pending, When two readers fold at once beside a live writer, Then the census equals a recount and only deltas written after the folds remain', async () => {
    const {ctx} = await setup()
    await writeShards(ctx, 60)
    const [a, b] = await Promise.all([foldCensusIfDue(ctx, undefined, 10), foldCensusIfDue(ctx, undefined, 10), writeShards(ctx, 30, 5)])
    // The base CAS lets one fold win the deltas it read; the other folds what the winner did not (or nothing).
    expect(a + b).toBeGreaterThanOrEqual(60)
    expect(a + b).toBeLessThanOrEqual(90)
    await exact(ctx)
    const left = (await readCensus(ctx))?.pendingDeltas ?? -1
    expect(left).toBeLessThanOrEqual(30)
    expect(await foldCensusIfDue(ctx, undefined, 10)).toBe(left > 10 ? left : 0)
    await exact(ctx)
  }, 60_000)

  it('Given a census that cannot be folded (etcd refuses), When status runs, Then status still answers and the deltas stay', async () => {
    const {store, ctx} = await setup()
    await writeShards(ctx, CENSUS_FOLD_THRESHOLD + 1)
    const commit = store.commit.bind(store)
    store.commit = async () => {
      throw new Error('permission denied')
    }
    const status = await clusterStatus(ctx)
    store.commit = commit
    expect(status.shards).toBe(16)
    expect((await readCensus(ctx))?.pendingDeltas).toBe(CENSUS_FOLD_THRESHOLD + 1)
    await exact(ctx)
  }, 60_000)
})
