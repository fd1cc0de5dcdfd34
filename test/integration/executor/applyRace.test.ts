import {afterAll, beforeAll, describe, expect, inject, it} from 'vitest'
import {listShards} from '../../../src/cluster/clusterRepo.js'
import {initCluster} from '../../../src/cluster/initCluster.js'
import {parseNodeSpecs} from '../../../src/cluster/nodeSpec.js'
import {makeServiceContext, type ServiceContext} from '../../../src/cluster/serviceContext.js'
import {readSnapshot} from '../../../src/cluster/snapshotService.js'
import {type EtcdStore} from '../../../src/etcd/etcdStore.js'
import {type Plan, type PlanAction, sealPlan, type SplitAction} from '../../../src/model/plan.js'
import {type Shard} from '../../../src/model/shard.js'
import {planRebalance} from '../../../src/planner/planRebalance.js'
import {StoreSet, uniqueCluster} from '../../support/testStore.js'
import {fakeClock, fakeClockApply} from '../../executor/fixtures.js'

/**
 * Two `apply`s at about the same time on real etcd, each on its own client (two processes):
 * operator A's whole run (a split) lands after operator B's apply started and before B
 * holds the executor lock (B's lease grant is the hook). B's plan, made from the same
 * snapshot, split another shard on the same node at the same epoch and moved "its" new
 * piece: the id A's split took. Node effects are fakes (no data moves); the map, the
 * lock, the fencing and the move records are etcd's. The memory-store version with more
 * interleavings is test/executor/applyRace.memoryStore.test.ts.
 */
const stores = new StoreSet()
let ctxA: ServiceContext
let ctxB: ServiceContext
let storeB: EtcdStore

beforeAll(async () => {
  const endpoint = inject('etcdEndpoint')
  const cluster = uniqueCluster('apply-race')
  ctxA = makeServiceContext(stores.open(endpoint, cluster), {cluster})
  storeB = stores.open(endpoint, cluster)
  ctxB = makeServiceContext(storeB, {cluster})
  await initCluster(ctxA, {shards: 4, rf: 1, nodes: parseNodeSpecs('n1=127.0.0.1:7101,n2=127.0.0.1:7102'), force: false})
  for (const id of ['n1', 'n2']) await ctxA.store.put(ctxA.keys.alive(id), JSON.stringify({node: id, address: '127.0.0.1:1', pid: 1, startedAt: 't'}))
})

afterAll(() => stores.closeAll())

function apply(ctx: ServiceContext, plan: Plan, holder: string) {
  return fakeClockApply(ctx, fakeClock(Date.now()), {plan, limits: {maxConcurrent: 1, perNode: 1}, holder})
}

function split(s: Shard, upper: number): SplitAction {
  const at = s.range.lo + Math.floor((s.range.hi - s.range.lo) / 2)
  return {kind: 'split', shard: s.id, epoch: s.epoch, at, parts: [{shard: s.id, range: {lo: s.range.lo, hi: at}, epoch: s.epoch + 1}, {shard: upper, range: {lo: at, hi: s.range.hi}, epoch: s.epoch + 1}], reason: {kind: 'split', detail: 'hot'}}
}

describe('two applies at about the same time on etcd', () => {
  it('Given A splits a shard (taking the new id B planned for its own split) after B started and before B holds the lock, When B runs, Then B moves nothing: its split and the move of that id are stale, and A\'s piece stays put', async () => {
    const shards = (await listShards(ctxA)).shards.map((s) => s.value)
    const holder = shards[0]!.replicas[0]!.node
    const [a, b] = shards.filter((s) => s.replicas[0]!.node === holder && s.epoch === shards[0]!.epoch)
    const nextId = Math.max(...shards.map((s) => s.id)) + 1
    const template = planRebalance(await readSnapshot(ctxA), {allowSplit: true}, {id: 'race', createdAt: new Date().toISOString()})
    const planA = sealPlan({...template, id: 'plan-a', actions: [split(a!, nextId)]})
    const moveB = {kind: 'move', shard: nextId, epoch: b!.epoch + 1, from: holder, to: holder === 'n1' ? 'n2' : 'n1', bytes: 0, keys: 0, reason: {kind: 'balance', detail: 'x'}, predicted: {source: 1, target: 1}} as PlanAction
    const planB = sealPlan({...template, id: 'plan-b', actions: [split(b!, nextId), moveB]})
    const grant = storeB.grantLease.bind(storeB)
    let fired = false
    storeB.grantLease = async (ttl) => {
      if (!fired) {
        fired = true
        expect((await apply(ctxA, planA, 'operator A')).splits).toEqual([{shard: a!.id, status: 'done'}])
      }
      return grant(ttl)
    }
    const result = await apply(ctxB, planB, 'operator B')
    expect(fired).toBe(true)
    expect(result.splits.map((s) => s.status)).toEqual(['skipped'])
    expect(result.moves.map((m) => `${m.shard}:${m.phase}`)).toEqual([`${nextId}:skipped`])
    const piece = (await listShards(ctxA)).shards.find((s) => s.value.id === nextId)?.value
    expect(piece?.replicas.map((r) => r.node)).toEqual([holder])
    expect(piece?.range.lo).toBe(split(a!, nextId).at)
  })
})
