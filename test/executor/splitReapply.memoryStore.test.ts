import {describe, expect, it} from 'vitest'
import {listShards} from '../../src/cluster/clusterRepo.js'
import {initCluster} from '../../src/cluster/initCluster.js'
import {parseNodeSpecs} from '../../src/cluster/nodeSpec.js'
import {makeServiceContext} from '../../src/cluster/serviceContext.js'
import {readSnapshot} from '../../src/cluster/snapshotService.js'
import {executePlan} from '../../src/executor/executePlan.js'
import {DEFAULT_EXECUTOR_OPTIONS} from '../../src/executor/executorEnv.js'
import {type MoveEffects} from '../../src/executor/moveEffects.js'
import {commitMoveTransition} from '../../src/executor/moveStore.js'
import {applySplit} from '../../src/executor/splitShard.js'
import {type PlanAction, sealPlan, type SplitAction} from '../../src/model/plan.js'
import {planRebalance} from '../../src/planner/planRebalance.js'
import {MemoryStore} from '../../src/store/memoryStore.js'

/**
 * `apply PLAN` again after an executor died between a plan's splits and recording its moves
 * (SIGKILL, lost lease): the real executePlan on the memory store with fake node effects.
 * A split that already happened is "already done", as decideSplit says, not a stale action.
 */
describe('executePlan re-applied after the previous run split the shard and died', () => {
  it('Given shard 0 already split by the dead run, When the same plan is applied again, Then the split reports already-done and the move of the created half runs', async () => {
    let now = 1_000_000
    const store = new MemoryStore()
    const ctx = makeServiceContext(store, {cluster: 'resplit'}, () => new Date(now))
    await initCluster(ctx, {shards: 2, rf: 1, nodes: parseNodeSpecs('n1=127.0.0.1:7101,n2=127.0.0.1:7102'), force: false})
    for (const id of ['n1', 'n2']) await store.put(ctx.keys.alive(id), JSON.stringify({node: id, address: '127.0.0.1:1', pid: 1, startedAt: 't'}))
    const s0 = (await listShards(ctx)).shards[0]!.value
    const holder = s0.replicas[0]!.node
    const at = s0.range.lo + Math.floor((s0.range.hi - s0.range.lo) / 2)
    const split: SplitAction = {kind: 'split', shard: 0, epoch: s0.epoch, at, parts: [{shard: 0, range: {lo: s0.range.lo, hi: at}, epoch: s0.epoch + 1}, {shard: 2, range: {lo: at, hi: s0.range.hi}, epoch: s0.epoch + 1}], reason: {kind: 'split', detail: 'hot'}}
    const move = {kind: 'move', shard: 2, epoch: s0.epoch + 1, from: holder, to: holder === 'n1' ? 'n2' : 'n1', bytes: 0, keys: 0, reason: {kind: 'balance', detail: 'hot half'}, predicted: {source: 1, target: 1}} as PlanAction
    const template = planRebalance(await readSnapshot(ctx), {allowSplit: true}, {id: 'resplit', createdAt: new Date(now).toISOString()})
    const plan = sealPlan({...template, actions: [split, move]})
    // The dead run's split (fenced on its lock, now gone).
    expect(await applySplit(ctx, {key: ctx.keys.executorLock, createRevision: 0n}, split)).toEqual({status: 'done'})

    const effects: MoveEffects = {barrier: async () => {}, copy: async (env, m) => commitMoveTransition(env.ctx, env.fence, m, {phase: 'verifying'}), verify: async () => {}, drain: async () => {}, drop: async () => 0, catchUp: async () => {}}
    const input = {plan, limits: {maxConcurrent: 1, perNode: 1}, throttle: null, nodeThrottle: null, options: DEFAULT_EXECUTOR_OPTIONS, confirm: async () => true, holder: 'test'}
    const result = await executePlan(ctx, input, {now: () => now, sleep: async (ms) => void (now += ms), emit: () => {}, effects}, new AbortController().signal)

    expect(result.splits).toEqual([{shard: 0, status: 'already-done'}])
    expect(result.moves.map((m) => `${m.shard}:${m.phase}`)).toEqual(['2:done'])
  })
})
