import {describe, expect, it} from 'vitest'
import {listShards} from '../../src/cluster/clusterRepo.js'
import {clusterStatus} from '../../src/cluster/clusterStatus.js'
import {initCluster} from '../../src/cluster/initCluster.js'
import {showNode} from '../../src/cluster/nodeService.js'
import {parseNodeSpecs} from '../../src/cluster/nodeSpec.js'
import {makeServiceContext, type ServiceContext} from '../../src/cluster/serviceContext.js'
import {readSnapshot} from '../../src/cluster/snapshotService.js'
import {sealPlan} from '../../src/model/plan.js'
import {planRebalance} from '../../src/planner/planRebalance.js'
import {putNodeStats} from '../../src/stats/statsPublish.js'
import {MemoryStore} from '../../src/store/memoryStore.js'
import {fakeClock, fakeClockApply, markNodesAlive} from '../executor/fixtures.js'

/** publish writes node `node`'s stats summary over `replicas` replicas (1 key, 100 bytes each), as the node publishes it. */
async function publish(ctx: ServiceContext, node: string, replicas: number): Promise<void> {
  await putNodeStats(ctx, {node, at: '2026-12-03T11:24:05.425Z', clockOffsetMs: 0, clockOk: true, shards: Array.from({length: replicas}, (_, shard) => ({shard, reads: 0, writes: 1, bytes: 100, keys: 1}))})
}

/** loadOf is node `id`'s load as `cluster status` gives it. */
async function loadOf(ctx: ServiceContext, id: string) {
  return (await clusterStatus(ctx)).nodes.find((n) => n.id === id)!.load
}

/**
 * `cluster status` says, as `node show` does, when a node's load figures predate the shard
 * map's latest change for it: right after a move the node still sums a replica it no longer
 * holds, beside a replica count that no longer counts it.
 */
describe('cluster status: load.stale', () => {
  it('is false while the figures name as many replicas as the map gives the node, true after a move it has not published since (as node show says), and false once it has', async () => {
    const clock = fakeClock()
    const ctx = makeServiceContext(new MemoryStore(), {cluster: 'status-stale-load'}, () => new Date(clock.now))
    await initCluster(ctx, {shards: 4, rf: 1, nodes: parseNodeSpecs('n1=127.0.0.1:7101,n2=127.0.0.1:7102'), force: false})
    await markNodesAlive(ctx, ['n1', 'n2'])
    const shard = (await listShards(ctx)).shards[0]!.value
    const node = shard.replicas[0]!.node
    const other = node === 'n1' ? 'n2' : 'n1'
    const held = (await clusterStatus(ctx)).nodes.find((n) => n.id === node)!.replicas
    expect(held).toBeGreaterThan(0)
    await publish(ctx, node, held)
    expect(await loadOf(ctx, node)).toEqual({replicas: held, reads: 0, writes: held, bytes: 100 * held, keys: held, stale: false})

    // A move takes shard 0 to the other node; the node has not published since.
    const template = planRebalance(await readSnapshot(ctx), {}, {id: 'x', createdAt: new Date(clock.now).toISOString()})
    const plan = sealPlan({...template, id: 'off', actions: [{kind: 'move', shard: shard.id, epoch: shard.epoch, from: node, to: other, bytes: 0, keys: 0, reason: {kind: 'balance', detail: 'x'}, predicted: {source: 1, target: 1}}]})
    expect((await fakeClockApply(ctx, clock, {plan, limits: {maxConcurrent: 1, perNode: 1}})).counts).toEqual({done: 1})
    const status = await clusterStatus(ctx)
    const row = status.nodes.find((n) => n.id === node)!
    expect(row.replicas).toBe(held - 1)
    expect(row.load).toMatchObject({replicas: held, stale: true})
    // The same verdict as node show's, from the same check.
    expect((await showNode(ctx, node)).load).toMatchObject({replicas: held, stale: true})

    await publish(ctx, node, held - 1)
    expect(await loadOf(ctx, node)).toMatchObject({replicas: held - 1, stale: false})
    // The other node publishes nothing: no load, so nothing to be stale.
    expect(await loadOf(ctx, other)).toBeNull()
  })
})
