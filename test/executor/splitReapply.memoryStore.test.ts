import {describe, expect, it} from 'vitest'
import {listShards} from '../../src/cluster/clusterRepo.js'
import {initCluster} from '../../src/cluster/initCluster.js'
import {parseNodeSpecs} from '../../src/cluster/nodeSpec.js'
import {makeServiceContext} from '../../src/cluster/serviceContext.js'
import {readSnapshot} from '../../src/cluster/snapshotService.js'
import {applySplit} from '../../src/executor/splitShard.js'
import {type Plan, type PlanAction, sealPlan, type SplitAction} from '../../src/model/plan.js'
import {planRebalance} from '../../src/planner/planRebalance.js'
import {MemoryStore} from '../../src/store/memoryStore.js'
import {fakeClock, fakeClockApply} from './fixtures.js'

/**
 * `apply PLAN` again after an executor died between a plan's splits and recording its moves
 * (SIGKILL, lost lease): the real executePlan on the memory store with fake node effects.
 * A split that already happened is "already done", as decideSplit says, not a stale action.
 */
/** world is a 2-shard rf 1 cluster of two live nodes on the memory store, with a fake clock, and the plan runner. */
async function world() {
  const clock = fakeClock()
  const store = new MemoryStore()
  const ctx = makeServiceContext(store, {cluster: 'resplit'}, () => new Date(clock.now))
  await initCluster(ctx, {shards: 2, rf: 1, nodes: parseNodeSpecs('n1=127.0.0.1:7101,n2=127.0.0.1:7102'), force: false})
  for (const id of ['n1', 'n2']) await store.put(ctx.keys.alive(id), JSON.stringify({node: id, address: '127.0.0.1:1', pid: 1, startedAt: 't'}))
  const s0 = (await listShards(ctx)).shards[0]!.value
  const holder = s0.replicas[0]!.node
  const cut = (f: number) => s0.range.lo + Math.floor((s0.range.hi - s0.range.lo) * f)
  const split = (shard: number, epoch: number, lo: number, at: number, hi: number, upper: number): SplitAction => ({kind: 'split', shard, epoch, at, parts: [{shard, range: {lo, hi: at}, epoch: epoch + 1}, {shard: upper, range: {lo: at, hi}, epoch: epoch + 1}], reason: {kind: 'split', detail: 'hot'}})
  const move = (shard: number, epoch: number) => ({kind: 'move', shard, epoch, from: holder, to: holder === 'n1' ? 'n2' : 'n1', bytes: 0, keys: 0, reason: {kind: 'balance', detail: 'hot piece'}, predicted: {source: 1, target: 1}}) as PlanAction
  const template = planRebalance(await readSnapshot(ctx), {allowSplit: true}, {id: 'resplit', createdAt: new Date(clock.now).toISOString()})
  return {
    ctx,
    s0,
    cut,
    split,
    move,
    planOf: (actions: PlanAction[]) => sealPlan({...template, actions}),
    /** deadRun applies splits as a run that died right after them (fenced on its lock, now gone). */
    deadRun: async (...splits: SplitAction[]) => {
      for (const a of splits) expect(await applySplit(ctx, {key: ctx.keys.executorLock, createRevision: 0n}, a)).toEqual({status: 'done'})
    },
    apply: (plan: Plan) => fakeClockApply(ctx, clock, {plan, limits: {maxConcurrent: 1, perNode: 1}}),
  }
}

describe('executePlan re-applied after the previous run split the shard and died', () => {
  it('Given shard 0 already split by the dead run, When the same plan is applied again, Then the split reports already-done and the move of the created half runs', async () => {
    const w = await world()
    const split = w.split(0, w.s0.epoch, w.s0.range.lo, w.cut(1 / 2), w.s0.range.hi, 2)
    const plan = w.planOf([split, w.move(2, w.s0.epoch + 1)])
    await w.deadRun(split)
    const result = await w.apply(plan)
    expect(result.splits).toEqual([{shard: 0, status: 'already-done'}])
    expect(result.moves.map((m) => `${m.shard}:${m.phase}`)).toEqual(['2:done'])
  })

  it('Given the upper half split again too (a chain) by the dead run, When the plan is applied again, Then both splits are already done and every piece moves', async () => {
    const w = await world()
    const e = w.s0.epoch
    const first = w.split(0, e, w.s0.range.lo, w.cut(1 / 2), w.s0.range.hi, 2)
    const second = w.split(2, e + 1, w.cut(1 / 2), w.cut(3 / 4), w.s0.range.hi, 3)
    const plan = w.planOf([first, second, w.move(3, e + 2), w.move(2, e + 2), w.move(0, e + 1)])
    await w.deadRun(first, second)
    const result = await w.apply(plan)
    expect(result.splits).toEqual([{shard: 0, status: 'already-done'}, {shard: 2, status: 'already-done'}])
    expect(result.moves.map((m) => `${m.shard}:${m.phase}`).sort()).toEqual(['0:done', '2:done', '3:done'])
  })
})
