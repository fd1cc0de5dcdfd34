import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, inject, it} from 'vitest'
import {listShards} from '../../../src/cluster/clusterRepo.js'
import {initCluster} from '../../../src/cluster/initCluster.js'
import {parseNodeSpecs} from '../../../src/cluster/nodeSpec.js'
import {makeServiceContext, type ServiceContext} from '../../../src/cluster/serviceContext.js'
import {readSnapshot} from '../../../src/cluster/snapshotService.js'
import {type MoveEffects} from '../../../src/executor/moveEffects.js'
import {getMove} from '../../../src/executor/moveStore.js'
import {type Plan, type PlanAction, sealPlan} from '../../../src/model/plan.js'
import {type Shard} from '../../../src/model/shard.js'
import {planRebalance} from '../../../src/planner/planRebalance.js'
import {type CliResult, runCli} from '../../support/runCli.js'
import {StoreSet, uniqueCluster} from '../../support/testStore.js'
import {copyOnlyEffects, fakeClock, fakeClockApply, markNodesAlive, moveOf} from '../../executor/fixtures.js'

/**
 * `shardctl moves cancel --plan P` run (the real binary) while an apply of another plan R holds
 * the executor lock, on real etcd (node effects are fakes). R's run never looks at P's moves: the
 * marks wait for the `apply --resume` after it. Until session 25 the command said "the running
 * executor aborts the marked moves back to their old replicas", whatever that executor ran.
 */
const stores = new StoreSet()
let ctx: ServiceContext
let cluster: string
let endpoint: string
let cwd: string

beforeAll(async () => {
  endpoint = inject('etcdEndpoint')
  cluster = uniqueCluster('cancel-while-applying')
  ctx = makeServiceContext(stores.open(endpoint, cluster), {cluster})
  await initCluster(ctx, {shards: 8, rf: 1, nodes: parseNodeSpecs('n1=127.0.0.1:7101,n2=127.0.0.1:7102,n3=127.0.0.1:7103,n4=127.0.0.1:7104'), force: false})
  await markNodesAlive(ctx, ['n1', 'n2', 'n3', 'n4'])
  cwd = mkdtempSync(join(tmpdir(), 'shardctl-cancel-while-applying-'))
})

afterAll(async () => {
  await stores.closeAll()
  rmSync(cwd, {recursive: true, force: true})
})

const fake = copyOnlyEffects

function apply(plan: Plan | undefined, effects: MoveEffects) {
  return fakeClockApply(ctx, fakeClock(Date.now()), {plan, limits: {maxConcurrent: 1, perNode: 1}, holder: 'shardctl apply plan-r', effects})
}

describe('moves cancel --plan P while an apply of another plan holds the executor lock', () => {
  it('Given P\'s pending move (its apply killed), When `moves cancel --plan P` runs while R\'s apply copies, Then it says R\'s run leaves the marked move to `apply --resume`, R\'s run ends with it still pending, and the resume aborts it', async () => {
    const shards = (await listShards(ctx)).shards.map((s) => s.value)
    const on = (node: string) => shards.find((s) => s.replicas[0]!.node === node)!
    const [s, t] = [on('n1'), on('n3')] as [Shard, Shard]
    await ctx.store.put(ctx.keys.move('plan-p-0000'), JSON.stringify(moveOf({id: 'plan-p-0000', plan: 'plan-p', shard: s.id, from: 'n1', to: 'n2', baseEpoch: s.epoch, epoch: s.epoch})))
    const template = planRebalance(await readSnapshot(ctx), {}, {id: 't', createdAt: new Date().toISOString()})
    const action: PlanAction = {kind: 'move', shard: t.id, epoch: t.epoch, from: 'n3', to: 'n4', bytes: 0, keys: 0, reason: {kind: 'balance', detail: 'x'}, predicted: {source: 1, target: 1}}
    let cancel: CliResult | undefined
    const cancelling: MoveEffects = {
      ...fake,
      copy: async (env, m) => {
        cancel ??= await runCli(['moves', 'cancel', '--plan', 'plan-p', '--endpoints', endpoint, '--cluster', cluster], {cwd})
        return fake.copy(env, m)
      },
    }
    const r = await apply(sealPlan({...template, id: 'plan-r', actions: [action]}), cancelling)
    expect(r.moves.map((m) => `${m.id}:${m.phase}`)).toEqual(['plan-r-0000:done'])
    expect(cancel?.stderr).toBe('')
    expect(cancel?.code).toBe(0)
    expect(cancel?.stdout).toContain('the running executor (shardctl apply plan-r, applying plan plan-r) does not run 1 of the marked move(s): once it ends, `shardctl apply --resume` aborts them back to their old replicas')
    expect((await getMove(ctx, 'plan-p-0000')).value).toMatchObject({phase: 'pending', cancelRequested: true})
    await apply(undefined, fake)
    expect((await getMove(ctx, 'plan-p-0000')).value.phase).toBe('aborted')
  })

  it('Given P\'s pending move, When `moves cancel ID` of it runs while R\'s apply copies, Then it says R\'s run does not run that move and `apply --resume` carries the cancel out (it said "will be cancelled by the executor")', async () => {
    const shards = (await listShards(ctx)).shards.map((s) => s.value)
    const on = (node: string) => shards.find((s) => s.replicas[0]!.node === node)!
    const [s, t] = [on('n1'), on('n4')] as [Shard, Shard]
    await ctx.store.put(ctx.keys.move('plan-q-0000'), JSON.stringify(moveOf({id: 'plan-q-0000', plan: 'plan-q', shard: s.id, from: 'n1', to: 'n2', baseEpoch: s.epoch, epoch: s.epoch})))
    const template = planRebalance(await readSnapshot(ctx), {}, {id: 't', createdAt: new Date().toISOString()})
    const action: PlanAction = {kind: 'move', shard: t.id, epoch: t.epoch, from: 'n4', to: 'n3', bytes: 0, keys: 0, reason: {kind: 'balance', detail: 'x'}, predicted: {source: 1, target: 1}}
    let cancel: CliResult | undefined
    const cancelling: MoveEffects = {
      ...fake,
      copy: async (env, m) => {
        cancel ??= await runCli(['moves', 'cancel', 'plan-q-0000', '--endpoints', endpoint, '--cluster', cluster], {cwd})
        return fake.copy(env, m)
      },
    }
    await apply(sealPlan({...template, id: 'plan-s', actions: [action]}), cancelling)
    expect(cancel?.code).toBe(0)
    expect(cancel?.stdout).toContain('move plan-q-0000 marked for cancellation: the running executor (shardctl apply plan-r, applying plan plan-s) does not run this move: once it ends, `shardctl apply --resume` carries out the cancel')
    await apply(undefined, fake)
    expect((await getMove(ctx, 'plan-q-0000')).value.phase).toBe('aborted')
    expect((await listShards(ctx)).shards.find((x) => x.value.id === s.id)!.value.replicas).toEqual([{node: 'n1', role: 'voter'}])
  })
})
