import {describe, expect, it} from 'vitest'
import {listShards} from '../../src/cluster/clusterRepo.js'
import {initCluster} from '../../src/cluster/initCluster.js'
import {parseNodeSpecs} from '../../src/cluster/nodeSpec.js'
import {makeServiceContext, type ServiceContext} from '../../src/cluster/serviceContext.js'
import {readSnapshot} from '../../src/cluster/snapshotService.js'
import {type MoveEffects} from '../../src/executor/moveEffects.js'
import {type Preflight} from '../../src/executor/planPreflight.js'
import {type Plan, type PlanAction, sealPlan, type SplitAction} from '../../src/model/plan.js'
import {type Shard} from '../../src/model/shard.js'
import {planRebalance} from '../../src/planner/planRebalance.js'
import {MemoryStore} from '../../src/store/memoryStore.js'
import {copyOnlyEffects, fakeClock, fakeClockApply} from './fixtures.js'

/**
 * Two operators (or CI pipelines) run `apply` at about the same time: the real executePlan
 * on one memory store shared by two clients (two processes on one etcd), with fake node
 * effects. Operator B's run is interleaved precisely: operator A's whole run happens after
 * B started and before B holds the executor lock (B's lease grant is the hook), which is
 * where the preflight used to read the map, so B's verdicts were stale by the time it ran.
 */
async function world() {
  const clock = fakeClock()
  const store = new MemoryStore()
  const ctxA = makeServiceContext(store, {cluster: 'race'}, () => new Date(clock.now))
  const storeB = store.connect()
  const ctxB = makeServiceContext(storeB, {cluster: 'race'}, () => new Date(clock.now))
  // Four shards on two nodes, rf 1: two shards on each node, all at the same epoch.
  await initCluster(ctxA, {shards: 4, rf: 1, nodes: parseNodeSpecs('n1=127.0.0.1:7101,n2=127.0.0.1:7102'), force: false})
  for (const id of ['n1', 'n2']) await store.put(ctxA.keys.alive(id), JSON.stringify({node: id, address: '127.0.0.1:1', pid: 1, startedAt: 't'}))
  const shards = (await listShards(ctxA)).shards.map((s) => s.value)
  const holder = shards[0]!.replicas[0]!.node
  const other = holder === 'n1' ? 'n2' : 'n1'
  // a and b: two shards on the same node at the same epoch, so a piece of either looks alike.
  const [a, b] = shards.filter((s) => s.replicas[0]!.node === holder && s.epoch === shards[0]!.epoch)
  if (!a || !b) throw new Error('the cluster needs two shards on one node')
  const nextId = Math.max(...shards.map((s) => s.id)) + 1
  const split = (s: Shard, upper: number): SplitAction => {
    const at = s.range.lo + Math.floor((s.range.hi - s.range.lo) / 2)
    return {kind: 'split', shard: s.id, epoch: s.epoch, at, parts: [{shard: s.id, range: {lo: s.range.lo, hi: at}, epoch: s.epoch + 1}, {shard: upper, range: {lo: at, hi: s.range.hi}, epoch: s.epoch + 1}], reason: {kind: 'split', detail: 'hot'}}
  }
  const move = (shard: number, epoch: number, from = holder, to = other) => ({kind: 'move', shard, epoch, from, to, bytes: 0, keys: 0, reason: {kind: 'balance', detail: 'x'}, predicted: {source: 1, target: 1}}) as PlanAction
  const template = planRebalance(await readSnapshot(ctxA), {allowSplit: true}, {id: 'race', createdAt: new Date(clock.now).toISOString()})
  const effects = copyOnlyEffects
  const apply = (ctx: ServiceContext, plan: Plan | undefined, holderName: string, confirm: (p: Preflight | undefined) => Promise<boolean> = async () => true, run: {effects?: MoveEffects; signal?: AbortSignal} = {}) =>
    fakeClockApply(ctx, clock, {plan, limits: {maxConcurrent: 1, perNode: 1}, confirm, holder: holderName, ...run})
  return {
    a,
    b,
    holder,
    other,
    nextId,
    split,
    move,
    planOf: (id: string, actions: PlanAction[]) => sealPlan({...template, id, actions}),
    /** applyA runs operator A's plan to the end on its own client. */
    applyA: (plan: Plan) => apply(ctxA, plan, 'operator A'),
    /** applyAStoppedCopying runs operator A's plan until its first move copies, then stops it there (Ctrl-C): the move stays recorded, unfinished, with a joining replica. */
    applyAStoppedCopying: (plan: Plan) => {
      const stop = new AbortController()
      return apply(ctxA, plan, 'operator A', undefined, {signal: stop.signal, effects: {...effects, copy: async () => (stop.abort(), Promise.reject(new Error('stopped while copying')))}})
    },
    /** applyAStoppedBeforeMoves runs operator A's plan and stops it (Ctrl-C) just after its moves are recorded `pending`: none starts. */
    applyAStoppedBeforeMoves: async (plan: Plan) => {
      const stop = new AbortController()
      const commit = store.commit.bind(store)
      store.commit = async (txn) => {
        const rev = await commit(txn)
        if ((txn.puts ?? []).some((p) => p.key.startsWith(ctxA.keys.movesPrefix))) stop.abort()
        return rev
      }
      try {
        return await apply(ctxA, plan, 'operator A', undefined, {signal: stop.signal})
      } finally {
        store.commit = commit
      }
    },
    /** resumeA is `apply --resume` on operator A's client. */
    resumeA: () => apply(ctxA, undefined, 'operator A'),
    /** writeShardIgnoringLock writes a shard record as a writer that ignores the executor lock would (no fence). */
    writeShardIgnoringLock: (s: Shard) => store.put(ctxA.keys.shard(s.id), JSON.stringify(s)),
    /** onShardRead runs `fn` once, just before operator B's next read of shard `id`'s record by key (applySplit's read). */
    onShardRead: (id: number, fn: () => Promise<unknown>) => {
      const get = storeB.get.bind(storeB)
      let fired = false
      storeB.get = async (key) => {
        if (!fired && key === ctxB.keys.shard(id)) {
          fired = true
          await fn()
        }
        return get(key)
      }
    },
    /**
     * applyBRacing runs operator B's plan; `meanwhile` runs once B's apply has started and
     * just before B's executor lock is taken (its lease grant).
     */
    applyBRacing: (plan: Plan, meanwhile: () => Promise<unknown>, confirm?: (p: Preflight | undefined) => Promise<boolean>) => {
      const grant = storeB.grantLease.bind(storeB)
      let fired = false
      storeB.grantLease = async (ttl) => {
        if (!fired) {
          fired = true
          await meanwhile()
        }
        return grant(ttl)
      }
      return apply(ctxB, plan, 'operator B', confirm)
    },
    shard: async (id: number) => (await listShards(ctxA)).shards.find((s) => s.value.id === id)?.value,
  }
}

describe('two applies at about the same time', () => {
  it('Given B planned to split shard b and move its new piece, When A splits shard a (taking the same new id, same node and epoch) between B starting and B taking the lock, Then B moves nothing: its split is stale and so is the move of the id A took', async () => {
    const w = await world()
    const planA = w.planOf('plan-a', [w.split(w.a, w.nextId)])
    const planB = w.planOf('plan-b', [w.split(w.b, w.nextId), w.move(w.nextId, w.b.epoch + 1)])
    const result = await w.applyBRacing(planB, () => w.applyA(planA))
    // A's piece (which B never planned to touch) stays where A left it.
    expect((await w.shard(w.nextId))?.replicas.map((r) => r.node)).toEqual([w.holder])
    expect(result.splits.map((s) => s.status)).toEqual(['skipped'])
    expect(result.moves.map((m) => `${m.shard}:${m.phase}`)).toEqual([`${w.nextId}:skipped`])
  })

  it('Given the same race, When B asks for confirmation, Then the preflight B confirms is the map as B holds the lock: the split and the move are shown stale', async () => {
    const w = await world()
    const planA = w.planOf('plan-a', [w.split(w.a, w.nextId)])
    const planB = w.planOf('plan-b', [w.split(w.b, w.nextId), w.move(w.nextId, w.b.epoch + 1)])
    let confirmed: Preflight | undefined
    await w.applyBRacing(planB, () => w.applyA(planA), async (p) => ((confirmed = p), true))
    expect(confirmed?.verdicts.map((v) => v.ok)).toEqual([false, false])
    expect(confirmed?.runnable).toBe(0)
  })

  it('Given B declines after seeing the stale verdicts, When the race happened, Then nothing of B was split or recorded', async () => {
    const w = await world()
    const planA = w.planOf('plan-a', [w.split(w.a, w.nextId)])
    const planB = w.planOf('plan-b', [w.split(w.b, w.nextId), w.move(w.nextId, w.b.epoch + 1)])
    const result = await w.applyBRacing(planB, () => w.applyA(planA), async () => false)
    expect(result.stopped).toBe(true)
    expect(result.moves).toEqual([])
    expect((await w.shard(w.b.id))?.epoch).toBe(w.b.epoch)
  })

  it('Given A applies a plan made from the same snapshot first, When B applies its plan afterwards (no race at all), Then the split whose new id A took is stale, and so is the move of that id', async () => {
    const w = await world()
    await w.applyA(w.planOf('plan-a', [w.split(w.a, w.nextId)]))
    const result = await w.applyBRacing(w.planOf('plan-b', [w.split(w.b, w.nextId), w.move(w.nextId, w.b.epoch + 1)]), async () => {})
    expect(result.splits.map((s) => s.status)).toEqual(['skipped'])
    expect(result.moves.map((m) => `${m.shard}:${m.phase}`)).toEqual([`${w.nextId}:skipped`])
    expect((await w.shard(w.nextId))?.replicas.map((r) => r.node)).toEqual([w.holder])
  })

  it('Given A moved shard b away between B starting and B taking the lock, When B applies its move of shard b, Then it is skipped, not run', async () => {
    const w = await world()
    const result = await w.applyBRacing(w.planOf('plan-b', [w.move(w.b.id, w.b.epoch)]), () => w.applyA(w.planOf('plan-a', [w.move(w.b.id, w.b.epoch)])))
    expect(result.moves.map((m) => m.phase)).toEqual(['skipped'])
    expect((await w.shard(w.b.id))?.replicas.map((r) => r.node)).toEqual([w.other])
  })

  it('Given the map changes while B\'s confirmation question is open (a writer that ignores the executor lock), When B answers yes, Then B refuses with CONFLICT before splitting or recording anything', async () => {
    const w = await world()
    const planB = w.planOf('plan-b', [w.split(w.b, w.nextId), w.move(w.nextId, w.b.epoch + 1)])
    const confirm = async () => (await w.writeShardIgnoringLock({...w.b, epoch: w.b.epoch + 5}), true)
    await expect(w.applyBRacing(planB, async () => {}, confirm)).rejects.toThrow(/shard map changed while apply waited for confirmation: 2 action verdict\(s\) differ/)
    expect((await w.shard(w.b.id))?.range).toEqual(w.b.range)
    expect(await w.shard(w.nextId)).toBeUndefined()
    const again = await w.applyBRacing(planB, async () => {})
    expect(again.moves.map((m) => m.phase)).toEqual(['skipped'])
  })

  it('Given a split B confirmed runnable is skipped when it runs (its new id taken just before, by a writer ignoring the lock), When B records its moves, Then the move of that id is recorded skipped, not pending on the other shard', async () => {
    const w = await world()
    const planB = w.planOf('plan-b', [w.split(w.b, w.nextId), w.move(w.nextId, w.b.epoch + 1)])
    const at = w.a.range.lo + Math.floor((w.a.range.hi - w.a.range.lo) / 2)
    const intruder: Shard = {...w.a, id: w.nextId, range: {lo: at, hi: w.a.range.hi}, epoch: w.b.epoch + 1}
    w.onShardRead(w.nextId, () => w.writeShardIgnoringLock(intruder))
    const result = await w.applyBRacing(planB, async () => {})
    expect(result.splits.map((s) => s.status)).toEqual(['skipped'])
    expect(result.moves.map((m) => `${m.shard}:${m.phase}`)).toEqual([`${w.nextId}:skipped`])
    expect((await w.shard(w.nextId))?.replicas.map((r) => r.node)).toEqual([w.holder])
  })

  it('Given A was stopped mid-copy of shard b (its move unfinished, a joining replica), When B applies a plan moving shard b, Then B\'s preflight shows the move stale naming A\'s move, and B\'s run finishes A\'s move (the same move), leaving nothing to resume', async () => {
    const w = await world()
    const stopped = await w.applyAStoppedCopying(w.planOf('plan-a', [w.move(w.b.id, w.b.epoch)]))
    expect(stopped.stopped).toBe(true)
    let confirmed: Preflight | undefined
    const result = await w.applyBRacing(w.planOf('plan-b', [w.move(w.b.id, w.b.epoch)]), async () => {}, async (p) => ((confirmed = p), true))
    expect(confirmed?.verdicts[0]).toMatchObject({ok: false})
    expect(confirmed?.verdicts[0]?.reason).toContain('unfinished move plan-a-0000')
    expect(result.moves.map((m) => `${m.id}:${m.phase}`).sort()).toEqual(['plan-a-0000:done', 'plan-b-0000:skipped'])
    const resumed = await w.resumeA()
    expect(resumed.moves).toEqual([])
    expect((await w.shard(w.b.id))?.replicas).toEqual([{node: w.other, role: 'voter'}])
  })

  it('Given A was stopped before its move of shard b started (recorded pending: an interrupted drain\'s queue), When B applies a plan moving shard b, Then B\'s run makes the move once (B\'s or A\'s, the other skipped at its start, not run on the moved shard), leaving nothing to resume', async () => {
    const w = await world()
    const stopped = await w.applyAStoppedBeforeMoves(w.planOf('plan-a', [w.move(w.b.id, w.b.epoch)]))
    expect(stopped.stopped).toBe(true)
    expect(stopped.moves.map((m) => m.phase)).toEqual(['pending'])
    const result = await w.applyBRacing(w.planOf('plan-b', [w.move(w.b.id, w.b.epoch)]), async () => {})
    expect(result.moves.map((m) => m.phase).sort()).toEqual(['done', 'skipped'])
    const resumed = await w.resumeA()
    expect(resumed.moves).toEqual([])
    expect((await w.shard(w.b.id))?.replicas).toEqual([{node: w.other, role: 'voter'}])
  })
})
