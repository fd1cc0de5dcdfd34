import {afterAll, beforeAll, describe, expect, inject, it} from 'vitest'
import {listShards} from '../../../src/cluster/clusterRepo.js'
import {initCluster} from '../../../src/cluster/initCluster.js'
import {parseNodeSpecs} from '../../../src/cluster/nodeSpec.js'
import {makeServiceContext, type ServiceContext} from '../../../src/cluster/serviceContext.js'
import {readSnapshot} from '../../../src/cluster/snapshotService.js'
import {type ExecutorEvent} from '../../../src/executor/executorEnv.js'
import {requestCancel} from '../../../src/executor/moveStore.js'
import {type Plan, type PlanAction, sealPlan} from '../../../src/model/plan.js'
import {planRebalance} from '../../../src/planner/planRebalance.js'
import {StoreSet, uniqueCluster} from '../../support/testStore.js'
import {fakeClock, fakeClockApply, markNodesAlive} from '../../executor/fixtures.js'

/**
 * The way out a conflict refusal names must work: "cancel them (`shardctl moves cancel ID`), then
 * compute a fresh plan". `moves cancel` only sets cancelRequested (the move stays `pending` until
 * an executor runs it); a move cancelled before its cutover counts as no conflict, since it ends
 * aborted with its shard where the map has it. Found by the review of the conflict check, where
 * the fresh plan was refused again.
 */
const stores = new StoreSet()
let ctx: ServiceContext

beforeAll(async () => {
  const cluster = uniqueCluster('plan-conflicts-wayout')
  ctx = makeServiceContext(stores.open(inject('etcdEndpoint'), cluster), {cluster})
  await initCluster(ctx, {shards: 4, rf: 1, nodes: parseNodeSpecs('n1=127.0.0.1:7101,n2=127.0.0.1:7102,n3=127.0.0.1:7103'), force: false})
  await markNodesAlive(ctx, ['n1', 'n2', 'n3'])
})
afterAll(async () => {
  await stores.closeAll()
})

function apply(plan: Plan | undefined, onEvent?: (ev: ExecutorEvent, stop: AbortController) => void) {
  const stop = new AbortController()
  return fakeClockApply(ctx, fakeClock(Date.now()), {plan, limits: {maxConcurrent: 1, perNode: 1}, emit: (ev) => onEvent?.(ev, stop), signal: stop.signal})
}

describe('the way out named by the unfinished-moves refusal', () => {
  it('cancelling the named pending move, then a fresh plan, is accepted', async () => {
    const shards = (await listShards(ctx)).shards.map((s) => s.value)
    const off = shards.filter((s) => s.replicas[0]!.node !== 'n3')
    const template = planRebalance(await readSnapshot(ctx), {}, {id: 't', createdAt: new Date().toISOString()})
    const move = (s: (typeof shards)[number]) => ({kind: 'move', shard: s.id, epoch: s.epoch, from: s.replicas[0]!.node, to: 'n3', bytes: 0, keys: 0, reason: {kind: 'balance', detail: 'fill n3'}, predicted: {source: 1, target: 1}}) as PlanAction
    const [x, y, z] = off as [(typeof shards)[number], (typeof shards)[number], (typeof shards)[number]]
    await apply(sealPlan({...template, id: 'plan-a', actions: [move(x), move(y)]}), (ev, stop) => ev.type === 'phase' && ev.phase === 'done' && stop.abort())
    // The hint's way out: cancel the named move, then a fresh plan.
    expect((await requestCancel(ctx, 'plan-a-0001')).changed).toBe(true)
    const now = (await listShards(ctx)).shards.map((s) => s.value)
    const fresh = sealPlan({...template, id: 'plan-c', actions: [move(now.find((s) => s.id === z.id)!)]})
    const r = await apply(fresh).then(
      () => 'accepted',
      (err: unknown) => `refused: ${(err as Error).message}`,
    )
    expect(r).toBe('accepted')
  })
})
