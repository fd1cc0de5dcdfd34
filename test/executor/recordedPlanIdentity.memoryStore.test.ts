import {describe, expect, it} from 'vitest'
import {listShards} from '../../src/cluster/clusterRepo.js'
import {initCluster} from '../../src/cluster/initCluster.js'
import {parseNodeSpecs} from '../../src/cluster/nodeSpec.js'
import {makeServiceContext} from '../../src/cluster/serviceContext.js'
import {readSnapshot} from '../../src/cluster/snapshotService.js'
import {isUserError} from '../../src/errors/errors.js'
import {listMoves} from '../../src/executor/moveStore.js'
import {type Plan, type PlanAction, sealPlan} from '../../src/model/plan.js'
import {planRebalance} from '../../src/planner/planRebalance.js'
import {MemoryStore} from '../../src/store/memoryStore.js'
import {fakeClock, fakeClockApply} from './fixtures.js'

/**
 * The executor knows a plan by its id. A second, different plan carrying an id already
 * recorded (two plans computed in the same millisecond, a frozen clock in CI) used to be
 * reported "applied already: nothing to run" with exit 0, and none of its moves ran.
 */
describe('apply of a different plan under an id already recorded', () => {
  it('Given plan p applied to done, When another plan with the same id and other moves is applied, Then it is refused (BAD_INPUT) naming the recorded move, and nothing changes', async () => {
    const clock = fakeClock()
    const store = new MemoryStore()
    const ctx = makeServiceContext(store, {cluster: 'ids'}, () => new Date(clock.now))
    await initCluster(ctx, {shards: 4, rf: 1, nodes: parseNodeSpecs('n1=127.0.0.1:7101,n2=127.0.0.1:7102'), force: false})
    for (const id of ['n1', 'n2']) await store.put(ctx.keys.alive(id), JSON.stringify({node: id, address: '127.0.0.1:1', pid: 1, startedAt: 't'}))
    const shards = (await listShards(ctx)).shards.map((s) => s.value)
    const move = (s: (typeof shards)[number]): PlanAction => {
      const from = s.replicas[0]!.node
      return {kind: 'move', shard: s.id, epoch: s.epoch, from, to: from === 'n1' ? 'n2' : 'n1', bytes: 0, keys: 0, reason: {kind: 'balance', detail: 'x'}, predicted: {source: 1, target: 1}}
    }
    const template = planRebalance(await readSnapshot(ctx), {}, {id: 'p', createdAt: new Date(clock.now).toISOString()})
    const apply = (plan: Plan) => fakeClockApply(ctx, clock, {plan, limits: {maxConcurrent: 1, perNode: 1}})

    const first = await apply(sealPlan({...template, id: 'p', actions: [move(shards[0]!)]}))
    expect(first.counts).toEqual({done: 1})
    const before = (await listShards(ctx)).shards.map((s) => s.value)
    const second = sealPlan({...template, id: 'p', actions: [move(shards[1]!)]})
    const err = await apply(second).then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(isUserError(err, 'BAD_INPUT')).toBe(true)
    expect((err as Error).message).toContain('plan p is not the plan recorded under that id: its recorded move p-0000')
    expect((await listShards(ctx)).shards.map((s) => s.value)).toEqual(before)
    expect((await listMoves(ctx)).map((m) => m.value.shard)).toEqual([shards[0]!.id])
    // The plan that was recorded applies again as "already done", not refused.
    await expect(apply(sealPlan({...template, id: 'p', actions: [move(shards[0]!)]}))).resolves.toBeDefined()
  })
})
