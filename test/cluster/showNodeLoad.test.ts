import {describe, expect, it} from 'vitest'
import {listShards} from '../../src/cluster/clusterRepo.js'
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

/**
 * `node show --json` says whether its load figures predate the shard map's latest change for
 * the node (load.stale), as the text line does: a script reading the load of a node just
 * drained must not take the figures of replicas it no longer holds for what it holds now.
 */
describe('node show: load.stale', () => {
  it('is false while the published figures name as many replicas as the map gives the node, true after a move the node has not published since, and false once it has', async () => {
    const clock = fakeClock()
    const ctx = makeServiceContext(new MemoryStore(), {cluster: 'stale-load'}, () => new Date(clock.now))
    await initCluster(ctx, {shards: 4, rf: 1, nodes: parseNodeSpecs('n1=127.0.0.1:7101,n2=127.0.0.1:7102'), force: false})
    await markNodesAlive(ctx, ['n1', 'n2'])
    // The node holding shard 0 (placement decides which), and the other.
    const shard = (await listShards(ctx)).shards[0]!.value
    const node = shard.replicas[0]!.node
    const other = node === 'n1' ? 'n2' : 'n1'
    const held = (await showNode(ctx, node)).replicas
    expect(held).toBeGreaterThan(0)
    await publish(ctx, node, held)
    for (const limit of [100, 0]) expect((await showNode(ctx, node, limit)).load, `limit ${limit}`).toMatchObject({replicas: held, stale: false})

    // A move takes shard 0 to the other node; the node has not published since.
    const template = planRebalance(await readSnapshot(ctx), {}, {id: 'x', createdAt: new Date(clock.now).toISOString()})
    const plan = sealPlan({...template, id: 'off', actions: [{kind: 'move', shard: shard.id, epoch: shard.epoch, from: node, to: other, bytes: 0, keys: 0, reason: {kind: 'balance', detail: 'x'}, predicted: {source: 1, target: 1}}]})
    expect((await fakeClockApply(ctx, clock, {plan, limits: {maxConcurrent: 1, perNode: 1}})).counts).toEqual({done: 1})
    for (const limit of [100, 0]) {
      const shown = await showNode(ctx, node, limit)
      expect(shown.replicas, `limit ${limit}`).toBe(held - 1)
      expect(shown.load, `limit ${limit}`).toMatchObject({replicas: held, stale: true})
    }

    await publish(ctx, node, held - 1)
    expect((await showNode(ctx, node)).load).toMatchObject({replicas: held - 1, stale: false})
    // The other node publishes nothing: no load, so nothing to be stale.
    expect((await showNode(ctx, other)).load).toBeNull()
  })
})
