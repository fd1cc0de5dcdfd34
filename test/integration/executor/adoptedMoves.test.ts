import {afterAll, beforeAll, describe, expect, inject, it} from 'vitest'
import {listShards} from '../../../src/cluster/clusterRepo.js'
import {initCluster} from '../../../src/cluster/initCluster.js'
import {parseNodeSpecs} from '../../../src/cluster/nodeSpec.js'
import {makeServiceContext} from '../../../src/cluster/serviceContext.js'
import {readSnapshot} from '../../../src/cluster/snapshotService.js'
import {getMove} from '../../../src/executor/moveStore.js'
import {type Plan, type PlanAction, sealPlan} from '../../../src/model/plan.js'
import {type Shard} from '../../../src/model/shard.js'
import {planRebalance} from '../../../src/planner/planRebalance.js'
import {fakeClock, fakeClockApply, markNodesAlive, moveOf} from '../../executor/fixtures.js'
import {StoreSet, uniqueCluster} from '../../support/testStore.js'

/**
 * Which of the other plans' unfinished moves a plan's `apply` runs, or records skipped, on real
 * etcd (the rule leans on etcd's create revisions: a move recorded before the plan's own
 * records is one the plan counted on). Node effects are fakes; the shard map and the move
 * records are etcd's. One cluster per test.
 */
const stores = new StoreSet()
let endpoint: string

beforeAll(() => {
  endpoint = inject('etcdEndpoint')
})
afterAll(() => stores.closeAll())


async function world(name: string) {
  const cluster = uniqueCluster(name)
  const ctx = makeServiceContext(stores.open(endpoint, cluster), {cluster})
  await initCluster(ctx, {shards: 12, rf: 1, nodes: parseNodeSpecs('n1=127.0.0.1:7101,n2=127.0.0.1:7102,n3=127.0.0.1:7103'), force: false})
  await markNodesAlive(ctx, ['n1', 'n2', 'n3'])
  const template = planRebalance(await readSnapshot(ctx), {}, {id: 'x', createdAt: new Date().toISOString()})
  const [s, u] = (await listShards(ctx)).shards.map((x) => x.value).filter((x) => x.replicas[0]!.node === 'n1')
  if (!s || !u) throw new Error('the cluster needs two shards on n1')
  const move = (shard: Shard, to: string, from = 'n1'): PlanAction => ({kind: 'move', shard: shard.id, epoch: shard.epoch, from, to, bytes: 0, keys: 0, reason: {kind: 'balance', detail: 'x'}, predicted: {source: 1, target: 1}})
  const apply = (plan: Plan | undefined, signal = new AbortController().signal) => {
    return fakeClockApply(ctx, fakeClock(Date.now()), {plan, limits: {maxConcurrent: 2, perNode: 2}, signal})
  }
  const shard = async (id: number) => (await listShards(ctx)).shards.find((x) => x.value.id === id)!.value
  /** pendingMoveOf records another plan's move of `x` as its apply stopped before starting it leaves it. */
  const pendingMoveOf = (plan: string, x: Shard, to: string) => ctx.store.put(ctx.keys.move(`${plan}-0000`), JSON.stringify(moveOf({id: `${plan}-0000`, plan, shard: x.id, from: 'n1', to, baseEpoch: x.epoch, epoch: x.epoch})))
  return {ctx, s, u, move, apply, shard, pendingMoveOf, planOf: (id: string, actions: PlanAction[]) => sealPlan({...template, id, actions})}
}

describe('another plan\'s moves in a plan\'s apply, on etcd', () => {
  it('Given plan P moved s n1 -> n3 and finished, s came back, and plan Q recorded that same move since, When P is applied again, Then it runs nothing and Q\'s move stays pending', async () => {
    const w = await world('adopt-reapply')
    const p = w.planOf('p', [w.move(w.s, 'n3')])
    expect((await w.apply(p)).moves.map((m) => m.phase)).toEqual(['done'])
    expect((await w.apply(w.planOf('r', [w.move(await w.shard(w.s.id), 'n1', 'n3')]))).moves.map((m) => m.phase)).toEqual(['done'])
    await w.pendingMoveOf('q', await w.shard(w.s.id), 'n3')
    expect((await w.apply(p)).moves.map((m) => `${m.id}:${m.phase}`)).toEqual(['p-0000:done'])
    expect((await getMove(w.ctx, 'q-0000')).value.phase).toBe('pending')
    expect((await w.shard(w.s.id)).replicas).toEqual([{node: 'n1', role: 'voter'}])
  })

  it('Given Q\'s pending move of s n1 -> n2, When P (u n1 -> n2, then s n1 -> n3) is applied, stopped once recorded, and resumed, Then Q\'s move is skipped as superseded and s ends on n3 as P planned', async () => {
    const w = await world('adopt-supersede')
    await w.pendingMoveOf('q', w.s, 'n2')
    const stop = new AbortController()
    // Stopped before any move starts: asked when the superseded move is skipped, just after the records are written.
    const p = w.planOf('p', [w.move(w.u, 'n2'), w.move(w.s, 'n3')])
    const stopped = await fakeClockApply(w.ctx, fakeClock(Date.now()), {plan: p, limits: {maxConcurrent: 2, perNode: 2}, emit: (ev) => ev.type === 'info' && /superseded/.test(ev.message) && stop.abort(), signal: stop.signal})
    expect(stopped.stopped).toBe(true)
    expect((await getMove(w.ctx, 'q-0000')).value).toMatchObject({phase: 'skipped', reason: expect.stringMatching(/^superseded by plan p's move/)})
    const resumed = await w.apply(undefined)
    expect(resumed.moves.map((m) => `${m.id}:${m.phase}`).sort()).toEqual(['p-0000:done', 'p-0001:done'])
    expect((await w.shard(w.s.id)).replicas).toEqual([{node: 'n3', role: 'voter'}])
    expect((await w.shard(w.u.id)).replicas).toEqual([{node: 'n2', role: 'voter'}])
  })
})
