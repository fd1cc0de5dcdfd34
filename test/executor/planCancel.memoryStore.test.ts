import {describe, expect, it} from 'vitest'
import {listShards} from '../../src/cluster/clusterRepo.js'
import {addNode} from '../../src/cluster/nodeService.js'
import {initCluster} from '../../src/cluster/initCluster.js'
import {parseNodeSpecs} from '../../src/cluster/nodeSpec.js'
import {makeServiceContext, type ServiceContext} from '../../src/cluster/serviceContext.js'
import {readSnapshot} from '../../src/cluster/snapshotService.js'
import {isUserError} from '../../src/errors/errors.js'
import {type MoveEffects} from '../../src/executor/moveEffects.js'
import {getMove, listMoves} from '../../src/executor/moveStore.js'
import {stoppedPlans, stoppedPlanText} from '../../src/executor/moveViews.js'
import {planCancelText, requestPlanCancel} from '../../src/executor/planCancel.js'
import {type Plan, type PlanAction, sealPlan} from '../../src/model/plan.js'
import {planRebalance} from '../../src/planner/planRebalance.js'
import {type Txn} from '../../src/store/store.js'
import {MemoryStore} from '../../src/store/memoryStore.js'
import {adoptWorld} from './adoptWorld.js'
import {copyOnlyEffects, fakeClock, fakeClockApply, moveOf} from './fixtures.js'

/**
 * Abandoning a plan whose apply died (SIGKILL) half way: `moves list` says nothing runs it
 * and how to continue or abandon it, `moves cancel --plan` marks every move that has not cut
 * over, and `apply --resume` then aborts those back to their old replicas and finishes the
 * cut-over ones. The dying apply is a client of the shared memory store whose writes fail
 * from the chosen one on; node effects are fakes (a move runs its phases in etcd only).
 */
const MOVES = 20

async function world() {
  const clock = fakeClock()
  const store = new MemoryStore()
  const ctx = makeServiceContext(store, {cluster: 'abandon'}, () => new Date(clock.now))
  await initCluster(ctx, {shards: 2 * MOVES + 20, rf: 1, nodes: parseNodeSpecs('n1=127.0.0.1:7101,n2=127.0.0.1:7102'), force: false})
  for (const id of ['n1', 'n2']) await store.put(ctx.keys.alive(id), JSON.stringify({node: id, address: '127.0.0.1:1', pid: 1, startedAt: 't'}))
  const shards = (await listShards(ctx)).shards.map((s) => s.value).filter((s) => s.replicas[0]!.node === 'n1')
  const template = planRebalance(await readSnapshot(ctx), {}, {id: 'x', createdAt: new Date(clock.now).toISOString()})
  const actions: PlanAction[] = shards.slice(0, MOVES).map((s) => ({kind: 'move', shard: s.id, epoch: s.epoch, from: 'n1', to: 'n2', bytes: 0, keys: 0, reason: {kind: 'balance', detail: 'x'}, predicted: {source: 1, target: 1}}))
  const plan: Plan = sealPlan({...template, id: 'big', actions})
  const effects = copyOnlyEffects
  const apply = (c: ServiceContext, p: Plan | undefined) =>
    fakeClockApply(c, clock, {plan: p, limits: {maxConcurrent: 3, perNode: 3, incomingPerNode: 3}, effects})
  return {
    ctx,
    plan,
    apply,
    /**
     * applyKilledAfterCutovers runs `apply plan` on its own client, which freezes for good (a
     * SIGKILLed process: none of its writes lands any more) once `n` moves have committed
     * their cutover, and lets its lease lapse.
     */
    applyKilledAfterCutovers: async (n: number) => {
      const dying = store.connect()
      const commit = dying.commit.bind(dying)
      let cutovers = 0
      let killed!: () => void
      const dead = new Promise<void>((r) => (killed = r))
      dying.commit = async (txn: Txn) => {
        if (cutovers >= n) {
          killed()
          return new Promise<bigint | undefined>(() => {})
        }
        const rev = await commit(txn)
        if (rev !== undefined && (txn.puts ?? []).some((p) => p.key.startsWith(ctx.keys.movesPrefix) && p.value.includes('"phase":"cutover"'))) cutovers++
        return rev
      }
      void apply(makeServiceContext(dying, {cluster: 'abandon'}, () => new Date(clock.now)), plan)
      await dead
      for (const id of store.leaseIds()) store.expireLease(id)
    },
  }
}

describe('abandoning a plan whose apply died', () => {
  it('moves list names it; moves cancel --plan and apply --resume abort every move not cut over and finish the rest', async () => {
    const w = await world()
    await w.applyKilledAfterCutovers(2)
    const before = (await listMoves(w.ctx)).map((m) => m.value)
    const unfinished = before.filter((m) => !['done', 'aborted', 'skipped', 'failed', 'rolledback'].includes(m.phase))
    const cutOver = before.filter((m) => ['cutover', 'release', 'draining', 'cleanup', 'done'].includes(m.phase)).map((m) => m.id)
    expect(before).toHaveLength(MOVES)
    expect(cutOver.length).toBeGreaterThanOrEqual(2)
    expect(unfinished.length).toBeGreaterThan(cutOver.length)

    const stopped = await stoppedPlans(w.ctx, before)
    expect(stopped).toEqual([{plan: 'big', unfinished: unfinished.length}])
    expect(stoppedPlanText(stopped[0]!)).toContain('`shardctl moves cancel --plan big` then `shardctl apply --resume`')

    const r = await requestPlanCancel(w.ctx, 'big')
    expect(r).toMatchObject({plan: 'big', cancelled: MOVES - cutOver.length, already: 0, unrecorded: 0, executorRunning: false})
    expect(r.finishing + r.finished).toBe(cutOver.length)
    expect(planCancelText(r).join('\n')).toContain('no executor is running: `shardctl apply --resume` aborts the marked moves')
    // Again: nothing new to mark.
    expect(await requestPlanCancel(w.ctx, 'big')).toMatchObject({cancelled: 0, already: MOVES - cutOver.length})

    await w.apply(w.ctx, undefined)
    const after = await listMoves(w.ctx)
    for (const m of after) expect([m.value.id, m.value.phase]).toEqual([m.value.id, cutOver.includes(m.value.id) ? 'done' : 'aborted'])
    // The aborted moves' shards are back on (still on) n1 alone; the finished ones on n2.
    const shards = new Map((await listShards(w.ctx)).shards.map((s) => [s.value.id, s.value]))
    for (const m of after) expect(shards.get(m.value.shard)!.replicas.map((x) => `${x.node}:${x.role}`)).toEqual([m.value.phase === 'done' ? 'n2:voter' : 'n1:voter'])
    expect(await stoppedPlans(w.ctx, after.map((m) => m.value))).toEqual([])
  })

  it('a plan with no moves is NOT_FOUND, changing nothing', async () => {
    const w = await world()
    const err = await requestPlanCancel(w.ctx, 'nope').catch((e: unknown) => e)
    expect(isUserError(err, 'NOT_FOUND')).toBe(true)
  })
})

// Found by the s24 adopt review: `moves cancel --plan P` marked P's own records only. A move of
// another plan Q that P makes too is run by P's apply (adopted, adoptedMoves): P's own action for
// it is skipped as stale once it started, so that move IS P's move of the shard. Cancelling P left
// it running (or, P's apply dead, to the next `apply --resume`): the shard moved anyway.
describe('moves cancel --plan P and the moves P\'s run adopted from another plan', () => {
  it('Given Q (s n1 -> n3, v n2 -> n4) killed with its move of s copying, and P (t n1 -> n3, s n1 -> n3) adopting that move, killed once it verifies, When P is cancelled and `apply --resume` runs, Then Q\'s move of s aborts (s back on n1), and Q\'s move of v, which P did not adopt, is not cancelled and finishes', async () => {
    const w = await adoptWorld()
    await w.setAlive('n3')
    await addNode(w.ctx, parseNodeSpecs('n4=127.0.0.1:7104')[0]!, undefined)
    await w.setAlive('n4')
    const v = (await listShards(w.ctx)).shards.map((x) => x.value).find((x) => x.replicas[0]!.node === 'n2')!
    await w.applyKilledAt(w.planOf('plan-q', [w.move(w.s, 'n3'), w.move(v, 'n4', 'n2')]), 'plan-q-0000', 'copying')
    await w.applyKilledAt(w.planOf('plan-p', [w.move(w.t, 'n3'), w.move(w.s, 'n3')]), 'plan-q-0000', 'verifying')
    expect((await getMove(w.ctx, 'plan-p-0001')).value.phase).toBe('skipped')

    const r = await requestPlanCancel(w.ctx, 'plan-p')
    expect((await getMove(w.ctx, 'plan-q-0000')).value.cancelRequested).toBe(true)
    expect((await getMove(w.ctx, 'plan-q-0001')).value.cancelRequested).toBe(false)
    expect(r.adopted).toEqual([{id: 'plan-q-0000', plan: 'plan-q'}])
    expect(planCancelText(r).join('\n')).toContain('plan-q-0000 (plan plan-q)')

    await w.apply(undefined)
    expect((await getMove(w.ctx, 'plan-q-0000')).value.phase).toBe('aborted')
    expect((await w.shard(w.s.id)).replicas).toEqual([{node: 'n1', role: 'voter'}])
    expect((await getMove(w.ctx, 'plan-q-0001')).value.phase).toBe('done')
    expect((await w.shard(v.id)).replicas).toEqual([{node: 'n4', role: 'voter'}])
    // P's own move of t: aborted back to n1 unless it had cut over before P's apply died.
    const pt = (await getMove(w.ctx, 'plan-p-0000')).value.phase
    expect((await w.shard(w.t.id)).replicas).toEqual([{node: pt === 'done' ? 'n3' : 'n1', role: 'voter'}])
    expect(['aborted', 'done']).toContain(pt)
  })

  it('Given Q\'s pending move of s n1 -> n3 and P (u n1 -> n2, s n1 -> n3) stopped once recorded (both moves of s pending), When P is cancelled and `apply --resume` runs, Then neither moves s: P\'s run would have run Q\'s', async () => {
    const w = await adoptWorld()
    await w.setAlive('n3')
    await w.leftover(moveOf({id: 'plan-q-0000', plan: 'plan-q', shard: w.s.id, from: 'n1', to: 'n3', baseEpoch: w.s.epoch, epoch: w.s.epoch}), w.s)
    expect((await w.applyStoppedAfterRecording(w.planOf('plan-p', [w.move(w.u, 'n2'), w.move(w.s, 'n3')]))).stopped).toBe(true)
    expect(await requestPlanCancel(w.ctx, 'plan-p')).toMatchObject({cancelled: 3, adopted: [{id: 'plan-q-0000', plan: 'plan-q'}]})
    await w.apply(undefined)
    expect((await listMoves(w.ctx)).map((m) => `${m.value.id}:${m.value.phase}`).sort()).toEqual(['plan-p-0000:aborted', 'plan-p-0001:aborted', 'plan-q-0000:aborted'])
    expect((await w.shard(w.s.id)).replicas).toEqual([{node: 'n1', role: 'voter'}])
    expect((await w.shard(w.u.id)).replicas).toEqual([{node: 'n1', role: 'voter'}])
  })

  it('Given Q\'s move of s n1 -> n3 recorded after P\'s identical one (P never counted on it: its run does not adopt it), When P is cancelled, Then Q\'s move is left alone', async () => {
    const w = await adoptWorld()
    await w.setAlive('n3')
    expect((await w.applyStoppedAfterRecording(w.planOf('plan-p', [w.move(w.s, 'n3')]))).stopped).toBe(true)
    await w.leftover(moveOf({id: 'plan-q-0000', plan: 'plan-q', shard: w.s.id, from: 'n1', to: 'n3', baseEpoch: w.s.epoch, epoch: w.s.epoch}), w.s)
    expect(await requestPlanCancel(w.ctx, 'plan-p')).toMatchObject({cancelled: 1, adopted: []})
    expect((await getMove(w.ctx, 'plan-q-0000')).value.cancelRequested).toBe(false)
  })
})

// Found by the s25 heal hunt: with the executor lock held, `moves cancel --plan P` said "the
// running executor aborts the marked moves", whatever that executor runs. An apply of another
// plan R runs R's moves (and those R adopted) only: P's marked moves waited, unaborted, until an
// `apply --resume` after it, which the text did not say.
describe('moves cancel --plan P while an executor holds the lock', () => {
  /** cancelDuring applies `running` and cancels plan P while the move of shard `shard` copies; returns the cancel's text. */
  async function cancelDuring(w: Awaited<ReturnType<typeof adoptWorld>>, running: Plan | undefined, shard: number) {
    let text: string[] = []
    const cancelling: MoveEffects = {
      ...w.effects,
      copy: async (env, m) => {
        if (m.value.shard === shard && text.length === 0) text = planCancelText(await requestPlanCancel(env.ctx, 'plan-p'))
        return w.effects.copy(env, m)
      },
    }
    const result = await w.apply(running, cancelling)
    return {text: text.join('\n'), result}
  }

  it('Given P (u n1 -> n2) stopped once recorded, When P is cancelled while an apply of plan R (a shard n3 -> n4: no conflict) runs, Then the text says R\'s run leaves P\'s move to `apply --resume` once it ends, which it does: R\'s run ends with P\'s move still pending, the resume aborts it', async () => {
    const w = await adoptWorld()
    await w.setAlive('n3')
    await addNode(w.ctx, parseNodeSpecs('n4=127.0.0.1:7104')[0]!, undefined)
    await w.setAlive('n4')
    const onN3 = (await listShards(w.ctx)).shards.map((x) => x.value).find((x) => x.replicas[0]!.node === 'n3')!
    expect((await w.applyStoppedAfterRecording(w.planOf('plan-p', [w.move(w.u, 'n2')]))).stopped).toBe(true)
    const {text, result} = await cancelDuring(w, w.planOf('plan-r', [w.move(onN3, 'n4', 'n3')]), onN3.id)
    expect(result.moves.map((m) => `${m.id}:${m.phase}`)).toEqual(['plan-r-0000:done'])
    expect((await getMove(w.ctx, 'plan-p-0000')).value).toMatchObject({phase: 'pending', cancelRequested: true})
    expect(text).not.toContain('the running executor aborts the marked moves')
    expect(text).toContain('the running executor (test, applying plan plan-r) does not run 1 of the marked move(s): once it ends, `shardctl apply --resume` aborts them back to their old replicas')
    await w.apply(undefined)
    expect((await getMove(w.ctx, 'plan-p-0000')).value.phase).toBe('aborted')
    expect((await w.shard(w.u.id)).replicas).toEqual([{node: 'n1', role: 'voter'}])
  })

  it('Given P (t n1 -> n2) stopped once recorded, When P is cancelled while `apply --resume` (or an apply of P) runs it, Then the text says the running executor aborts the marked moves, and it does', async () => {
    for (const again of [false, true]) {
      const w = await adoptWorld()
      const p = w.planOf('plan-p', [w.move(w.t, 'n2')])
      expect((await w.applyStoppedAfterRecording(p)).stopped).toBe(true)
      const {text} = await cancelDuring(w, again ? p : undefined, w.t.id)
      expect(text).toContain(`the running executor (test, ${again ? 'applying plan plan-p' : 'resuming every recorded move'}) aborts the marked moves back to their old replicas`)
      expect((await getMove(w.ctx, 'plan-p-0000')).value.phase).toBe('aborted')
      expect((await w.shard(w.t.id)).replicas).toEqual([{node: 'n1', role: 'voter'}])
    }
  })
})

describe('planCancelText with the executor lock held by one that does not say what it runs', () => {
  it('Given the lock of `redis fix` (or of an older executor), Then the text says only the moves it runs are aborted by it, and `apply --resume` aborts the rest once it ends', () => {
    const text = planCancelText({plan: 'p', cancelled: 2, already: 0, finishing: 0, finished: 0, unrecorded: 0, executorRunning: true, executor: {holder: 'shardctl redis fix'}, leftToResume: null, adopted: []})
    expect(text).toContain('an executor holds the lock (shardctl redis fix) without saying which moves it runs: it aborts those of the marked moves it runs, and once it ends `shardctl apply --resume` aborts the rest back to their old replicas')
  })
})
