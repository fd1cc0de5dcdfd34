import {describe, expect, it} from 'vitest'
import {listShards} from '../../src/cluster/clusterRepo.js'
import {initCluster} from '../../src/cluster/initCluster.js'
import {parseNodeSpecs} from '../../src/cluster/nodeSpec.js'
import {makeServiceContext, type ServiceContext} from '../../src/cluster/serviceContext.js'
import {readSnapshot} from '../../src/cluster/snapshotService.js'
import {isUserError} from '../../src/errors/errors.js'
import {executePlan} from '../../src/executor/executePlan.js'
import {DEFAULT_EXECUTOR_OPTIONS} from '../../src/executor/executorEnv.js'
import {type MoveEffects} from '../../src/executor/moveEffects.js'
import {commitMoveTransition, listMoves} from '../../src/executor/moveStore.js'
import {stoppedPlans, stoppedPlanText} from '../../src/executor/moveViews.js'
import {planCancelText, requestPlanCancel} from '../../src/executor/planCancel.js'
import {type Plan, type PlanAction, sealPlan} from '../../src/model/plan.js'
import {planRebalance} from '../../src/planner/planRebalance.js'
import {type Txn} from '../../src/store/store.js'
import {MemoryStore} from '../../src/store/memoryStore.js'

/**
 * Abandoning a plan whose apply died (SIGKILL) half way: `moves list` says nothing runs it
 * and how to continue or abandon it, `moves cancel --plan` marks every move that has not cut
 * over, and `apply --resume` then aborts those back to their old replicas and finishes the
 * cut-over ones. The dying apply is a client of the shared memory store whose writes fail
 * from the chosen one on; node effects are fakes (a move runs its phases in etcd only).
 */
const MOVES = 20

async function world() {
  let now = 1_000_000
  const store = new MemoryStore()
  const ctx = makeServiceContext(store, {cluster: 'abandon'}, () => new Date(now))
  await initCluster(ctx, {shards: 2 * MOVES + 20, rf: 1, nodes: parseNodeSpecs('n1=127.0.0.1:7101,n2=127.0.0.1:7102'), force: false})
  for (const id of ['n1', 'n2']) await store.put(ctx.keys.alive(id), JSON.stringify({node: id, address: '127.0.0.1:1', pid: 1, startedAt: 't'}))
  const shards = (await listShards(ctx)).shards.map((s) => s.value).filter((s) => s.replicas[0]!.node === 'n1')
  const template = planRebalance(await readSnapshot(ctx), {}, {id: 'x', createdAt: new Date(now).toISOString()})
  const actions: PlanAction[] = shards.slice(0, MOVES).map((s) => ({kind: 'move', shard: s.id, epoch: s.epoch, from: 'n1', to: 'n2', bytes: 0, keys: 0, reason: {kind: 'balance', detail: 'x'}, predicted: {source: 1, target: 1}}))
  const plan: Plan = sealPlan({...template, id: 'big', actions})
  const effects: MoveEffects = {barrier: async () => {}, copy: async (env, m) => commitMoveTransition(env.ctx, env.fence, m, {phase: 'verifying'}), verify: async () => {}, drain: async () => {}, drop: async () => 0, catchUp: async () => {}}
  const apply = (c: ServiceContext, p: Plan | undefined) =>
    executePlan(c, {plan: p, limits: {maxConcurrent: 3, perNode: 3, incomingPerNode: 3}, throttle: null, nodeThrottle: null, options: DEFAULT_EXECUTOR_OPTIONS, confirm: async () => true, holder: 'test'}, {now: () => now, sleep: async (ms) => void (now += ms), emit: () => {}, effects}, new AbortController().signal)
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
      void apply(makeServiceContext(dying, {cluster: 'abandon'}, () => new Date(now)), plan)
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
