import {getMeta, listShards} from '../../src/cluster/clusterRepo.js'
import {initCluster} from '../../src/cluster/initCluster.js'
import {parseNodeSpecs} from '../../src/cluster/nodeSpec.js'
import {makeServiceContext, type ServiceContext} from '../../src/cluster/serviceContext.js'
import {readSnapshot} from '../../src/cluster/snapshotService.js'
import {type MoveEffects} from '../../src/executor/moveEffects.js'
import {type Move, type MovePhase} from '../../src/model/move.js'
import {type Plan, type PlanAction, sealPlan} from '../../src/model/plan.js'
import {type Shard} from '../../src/model/shard.js'
import {planRebalance} from '../../src/planner/planRebalance.js'
import {MemoryStore} from '../../src/store/memoryStore.js'
import {copyOnlyEffects, fakeClock, fakeClockApply, moveOf} from './fixtures.js'
import {clientFrozenAfter} from './frozenClient.js'

/**
 * stoppedAfterRecording runs `run` (an apply of `plan`) and stops it, as Ctrl-C does, once a
 * transaction recorded the plan's moves: none of them starts.
 */
export async function stoppedAfterRecording<R>(store: MemoryStore, ctx: ServiceContext, plan: Plan, run: (signal: AbortSignal) => Promise<R>): Promise<R> {
  const stop = new AbortController()
  const commit = store.commit.bind(store)
  store.commit = async (txn) => {
    const rev = await commit(txn)
    if ((txn.puts ?? []).some((p) => p.key.startsWith(ctx.keys.move(`${plan.id}-`)))) stop.abort()
    return rev
  }
  try {
    return await run(stop.signal)
  } finally {
    store.commit = commit
  }
}

/**
 * adoptWorld is the world of the tests of one plan's apply running (adopting) another plan's
 * unfinished move that it makes too, and of the moves a later-recorded plan supersedes: a
 * cluster of 12 shards at RF 1 on n1, n2, n3 (n1 and n2 alive), one memory store, fake node
 * effects. The other plan's leftovers are written as a killed executor leaves them (a move
 * record in some phase, the shard as that phase has it), or made by an apply whose client
 * freezes (SIGKILL). Shared by test/executor/adoptedMoves and planCancel tests.
 */
const SLEEPS_BEFORE_GIVING_UP = 5000

export async function adoptWorld() {
  const clock = fakeClock()
  const store = new MemoryStore()
  const ctx = makeServiceContext(store, {cluster: 'adopt'}, () => new Date(clock.now))
  await initCluster(ctx, {shards: 12, rf: 1, nodes: parseNodeSpecs('n1=127.0.0.1:7101,n2=127.0.0.1:7102,n3=127.0.0.1:7103'), force: false})
  const setAlive = (id: string) => store.put(ctx.keys.alive(id), JSON.stringify({node: id, address: '127.0.0.1:1', pid: 1, startedAt: 't'}))
  for (const id of ['n1', 'n2']) await setAlive(id)
  const onN1 = (await listShards(ctx)).shards.map((x) => x.value).filter((x) => x.replicas[0]!.node === 'n1')
  const [s, t, u] = onN1
  if (!s || !t || !u) throw new Error('the cluster needs three shards on n1')
  const template = planRebalance(await readSnapshot(ctx), {}, {id: 'x', createdAt: new Date(clock.now).toISOString()})
  const move = (shard: Shard, to: string, from = 'n1'): PlanAction => ({kind: 'move', shard: shard.id, epoch: shard.epoch, from, to, bytes: 0, keys: 0, reason: {kind: 'balance', detail: 'x'}, predicted: {source: 1, target: 1}})
  const effects = copyOnlyEffects
  /** apply runs `plan` (or `apply --resume`) to its end; a run still going after SLEEPS_BEFORE_GIVING_UP loop sleeps is stopped (result.stopped). */
  const apply = (c: ServiceContext, plan: Plan | undefined, runEffects = effects) => {
    const stop = new AbortController()
    let sleeps = 0
    const onSleep = () => {
      if (++sleeps >= SLEEPS_BEFORE_GIVING_UP) stop.abort()
    }
    return fakeClockApply(c, clock, {plan, limits: {maxConcurrent: 2, perNode: 2, incomingPerNode: 2}, effects: runEffects, signal: stop.signal, onSleep})
  }
  /** applyKilledAfter runs `plan` on its own client, which freezes for good (SIGKILL) after the first commit with a put matching `killedBy`; its lease then lapses. */
  const applyKilledAfter = async (plan: Plan, killedBy: (put: {key: string; value: string}) => boolean) => {
    const dying = clientFrozenAfter(store, killedBy)
    void apply(makeServiceContext(dying.client, {cluster: 'adopt'}, () => new Date(clock.now)), plan)
    await dying.dead
    dying.expireLeases()
  }
  return {
    ctx,
    s,
    t,
    u,
    setAlive,
    planOf: (id: string, actions: PlanAction[]) => sealPlan({...template, id, actions}),
    move,
    effects,
    apply: (plan: Plan | undefined, runEffects?: MoveEffects) => apply(ctx, plan, runEffects),
    /** leftoverQMovingSToN2 leaves plan Q's pending move of shard s n1 -> n2, as an apply stopped once it recorded it does. */
    leftoverQMovingSToN2: async () => {
      await store.put(ctx.keys.move('plan-q-0000'), JSON.stringify(moveOf({id: 'plan-q-0000', plan: 'plan-q', shard: s.id, from: 'n1', to: 'n2', baseEpoch: s.epoch, epoch: s.epoch})))
      await store.put(ctx.keys.shard(s.id), JSON.stringify(s))
    },
    /** planP moves u n1 -> n2, then s n1 -> n3: let past Q's move of s because it moves s first at that epoch. */
    planP: () => sealPlan({...template, id: 'plan-p', actions: [move(u, 'n2'), move(s, 'n3')]}),
    /** leftover writes another plan's move record and its shard as an executor killed in that phase left them. */
    leftover: async (m: Move, shard: Shard) => {
      await store.put(ctx.keys.move(m.id), JSON.stringify(m))
      await store.put(ctx.keys.shard(shard.id), JSON.stringify(shard))
    },
    /**
     * applyKilledAt runs `plan` on its own client, which freezes for good (SIGKILL: none of its
     * writes lands any more) once move `id` has committed phase `phase`; its lease then lapses.
     */
    applyKilledAt: (plan: Plan, id: string, phase: MovePhase) => applyKilledAfter(plan, (p) => p.key === ctx.keys.move(id) && p.value.includes(`"phase":"${phase}"`)),
    /** applyStoppedAfterRecording runs `plan` and stops it (Ctrl-C) once its moves are recorded: none starts. */
    applyStoppedAfterRecording: (plan: Plan) =>
      stoppedAfterRecording(store, ctx, plan, (signal) => fakeClockApply(ctx, clock, {plan, limits: {maxConcurrent: 2, perNode: 2}, effects, signal})),
    /**
     * applyKilledAfterRecording runs `plan` on its own client, which freezes for good (SIGKILL)
     * right after the commit that records the plan's moves: nothing after it lands (the skips
     * of the moves it supersedes included); its lease then lapses.
     */
    applyKilledAfterRecording: (plan: Plan) => applyKilledAfter(plan, (p) => p.key.startsWith(ctx.keys.move(`${plan.id}-`))),
    shard: async (id: number) => (await listShards(ctx)).shards.find((x) => x.value.id === id)!.value,
    /** split cuts `shard` at its midpoint, the upper piece taking id `upper` (the next free id when the plan was made). */
    split: (shard: Shard, upper: number): PlanAction => {
      const at = shard.range.lo + Math.floor((shard.range.hi - shard.range.lo) / 2)
      return {kind: 'split', shard: shard.id, epoch: shard.epoch, at, parts: [{shard: shard.id, range: {lo: shard.range.lo, hi: at}, epoch: shard.epoch + 1}, {shard: upper, range: {lo: at, hi: shard.range.hi}, epoch: shard.epoch + 1}], reason: {kind: 'split', detail: 'hot'}}
    },
    nextShardId: async () => (await getMeta(ctx)).value.nextShardId,
  }
}

/**
 * worldWithQKilledIn is where the tests of a plan making another plan's move start: plan Q's
 * move of s from n1 to n3 (n3 alive), its apply killed once the move reached `phase`.
 */
export async function worldWithQKilledIn(phase: MovePhase) {
  const w = await adoptWorld()
  await w.setAlive('n3')
  await w.applyKilledAt(w.planOf('plan-q', [w.move(w.s, 'n3')]), 'plan-q-0000', phase)
  return w
}
