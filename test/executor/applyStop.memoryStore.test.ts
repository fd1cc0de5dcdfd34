import {describe, expect, it} from 'vitest'
import {listShards} from '../../src/cluster/clusterRepo.js'
import {initCluster} from '../../src/cluster/initCluster.js'
import {parseNodeSpecs} from '../../src/cluster/nodeSpec.js'
import {makeServiceContext} from '../../src/cluster/serviceContext.js'
import {readSnapshot} from '../../src/cluster/snapshotService.js'
import {listMoves} from '../../src/executor/moveStore.js'
import {type Plan, type PlanAction, sealPlan, type SplitAction} from '../../src/model/plan.js'
import {type Preflight} from '../../src/executor/planPreflight.js'
import {planRebalance} from '../../src/planner/planRebalance.js'
import {MemoryStore} from '../../src/store/memoryStore.js'
import {fakeClock, fakeClockApply} from './fixtures.js'

/**
 * Ctrl-C (SIGINT: apply's abort signal) before `apply` changed anything: while it takes the
 * executor lock (the lease grant is the hook), or while the confirmation is answered. The
 * real executePlan on a memory store with fake node effects; the plan splits a shard and
 * moves another.
 */
async function world() {
  const clock = fakeClock()
  const store = new MemoryStore()
  const ctx = makeServiceContext(store, {cluster: 'stop'}, () => new Date(clock.now))
  await initCluster(ctx, {shards: 4, rf: 1, nodes: parseNodeSpecs('n1=127.0.0.1:7101,n2=127.0.0.1:7102'), force: false})
  for (const id of ['n1', 'n2']) await store.put(ctx.keys.alive(id), JSON.stringify({node: id, address: '127.0.0.1:1', pid: 1, startedAt: 't'}))
  const shards = (await listShards(ctx)).shards.map((s) => s.value)
  const holder = shards[0]!.replicas[0]!.node
  const other = holder === 'n1' ? 'n2' : 'n1'
  const [a, b] = shards.filter((s) => s.replicas[0]!.node === holder)
  if (!a || !b) throw new Error(`${holder} needs two shards`)
  const nextId = Math.max(...shards.map((s) => s.id)) + 1
  const at = a.range.lo + Math.floor((a.range.hi - a.range.lo) / 2)
  const split: SplitAction = {kind: 'split', shard: a.id, epoch: a.epoch, at, parts: [{shard: a.id, range: {lo: a.range.lo, hi: at}, epoch: a.epoch + 1}, {shard: nextId, range: {lo: at, hi: a.range.hi}, epoch: a.epoch + 1}], reason: {kind: 'split', detail: 'hot'}}
  const move: PlanAction = {kind: 'move', shard: b.id, epoch: b.epoch, from: holder, to: other, bytes: 0, keys: 0, reason: {kind: 'balance', detail: 'x'}, predicted: {source: 1, target: 1}}
  const template = planRebalance(await readSnapshot(ctx), {allowSplit: true}, {id: 'stop', createdAt: new Date(clock.now).toISOString()})
  const plan: Plan = sealPlan({...template, id: 'stop', actions: [split, move]})
  const apply = (signal: AbortSignal, confirm: (p: Preflight | undefined) => Promise<boolean> = async () => true) =>
    fakeClockApply(ctx, clock, {plan, limits: {maxConcurrent: 1, perNode: 1}, confirm, holder: 'operator', signal})
  return {
    store,
    ctx,
    apply,
    /** onLockGrant runs `fn` once, while apply takes the executor lock (its lease grant). */
    onLockGrant: (fn: () => void) => {
      const grant = store.grantLease.bind(store)
      store.grantLease = async (ttl) => {
        store.grantLease = grant
        fn()
        return grant(ttl)
      }
    },
    /** unchanged: the map is as init left it and no move is recorded. */
    unchanged: async () => {
      const now = (await listShards(ctx)).shards.map((s) => s.value)
      expect(now).toEqual(shards)
      expect(await listMoves(ctx)).toEqual([])
    },
  }
}

describe('Ctrl-C before apply changed anything', () => {
  it('Given Ctrl-C arrives while apply takes the executor lock, When apply returns, Then it stopped with nothing split or recorded, and the lock is free for the next apply', async () => {
    const w = await world()
    const ctrlC = new AbortController()
    w.onLockGrant(() => ctrlC.abort())
    let asked = false
    const result = await w.apply(ctrlC.signal, async () => ((asked = true), true))
    expect(result.stopped).toBe(true)
    expect(result.splits).toEqual([])
    expect(result.moves).toEqual([])
    expect(asked).toBe(false)
    await w.unchanged()
    expect(await w.store.get(w.ctx.keys.executorLock)).toBeUndefined()
    const next = await w.apply(new AbortController().signal)
    expect(next.splits.map((s) => s.status)).toEqual(['done'])
    expect(next.counts).toEqual({done: 1})
  })

  it('Given Ctrl-C arrives while the confirmation is being answered (yes), When apply goes on, Then it stops before splitting or recording anything', async () => {
    const w = await world()
    const ctrlC = new AbortController()
    const result = await w.apply(ctrlC.signal, async () => (ctrlC.abort(), true))
    expect(result.stopped).toBe(true)
    expect(result.splits).toEqual([])
    await w.unchanged()
  })
})
