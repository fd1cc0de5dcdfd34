import {listShards} from '../../src/cluster/clusterRepo.js'
import {initCluster} from '../../src/cluster/initCluster.js'
import {setNodeState} from '../../src/cluster/nodeService.js'
import {parseNodeSpecs} from '../../src/cluster/nodeSpec.js'
import {makeServiceContext} from '../../src/cluster/serviceContext.js'
import {readSnapshot} from '../../src/cluster/snapshotService.js'
import {type Plan, type PlanAction, sealPlan} from '../../src/model/plan.js'
import {type Shard} from '../../src/model/shard.js'
import {planRebalance} from '../../src/planner/planRebalance.js'
import {MemoryStore} from '../../src/store/memoryStore.js'
import {stoppedAfterRecording} from './adoptWorld.js'
import {copyOnlyEffects, fakeClock, fakeClockApply, type moveOf} from './fixtures.js'
import {clientFrozenAfter} from './frozenClient.js'

/**
 * healWorld is the world of the heal tests (test/executor/healSupersession.memoryStore.test.ts)
 * and of the chained-moves ones: one memory store with fake node effects, RF 2 on n1..n4, all
 * alive; s a shard on n1, x its other replica, y and z the nodes without it. `n1Dies` makes n1
 * dead (no alive key) and marks it draining, as the autopilot does before it heals.
 */
export async function healWorld() {
  const clock = fakeClock()
  const store = new MemoryStore()
  const ctx = makeServiceContext(store, {cluster: 'heal'}, () => new Date(clock.now))
  await initCluster(ctx, {shards: 8, rf: 2, nodes: parseNodeSpecs('n1=127.0.0.1:7101,n2=127.0.0.1:7102,n3=127.0.0.1:7103,n4=127.0.0.1:7104'), force: false})
  for (const id of ['n1', 'n2', 'n3', 'n4']) await store.put(ctx.keys.alive(id), JSON.stringify({node: id, address: '127.0.0.1:1', pid: 1, startedAt: 't'}))
  const s = (await listShards(ctx)).shards.map((x) => x.value).find((x) => x.replicas.some((r) => r.node === 'n1'))
  if (!s) throw new Error('the cluster needs a shard on n1')
  // x: s's other (live) replica; y and z: the nodes without s.
  const x = s.replicas.find((r) => r.node !== 'n1')!.node
  const [y, z] = ['n2', 'n3', 'n4'].filter((n) => n !== x) as [string, string]
  const template = planRebalance(await readSnapshot(ctx), {}, {id: 'x', createdAt: new Date(clock.now).toISOString()})
  const move = (shard: Shard, from: string, to: string, kind: 'balance' | 'drain' = 'balance'): PlanAction => ({kind: 'move', shard: shard.id, epoch: shard.epoch, from, to, bytes: 0, keys: 0, reason: {kind, detail: 'x'}, predicted: {source: 1, target: 1}})
  const effects = copyOnlyEffects
  const run = (plan: Plan | undefined, signal = new AbortController().signal, c = ctx, confirm = async () => true) =>
    fakeClockApply(c, clock, {plan, limits: {maxConcurrent: 2, perNode: 2, incomingPerNode: 2}, confirm, effects, signal})
  return {
    ctx,
    s,
    x,
    y,
    z,
    move,
    planOf: (id: string, actions: PlanAction[]) => sealPlan({...template, id, actions}),
    apply: (plan: Plan | undefined) => run(plan),
    /** applyAnswering runs `plan`, doing `meanwhile` while it waits for the operator's answer (yes). */
    applyAnswering: (plan: Plan, meanwhile: () => Promise<void>) => run(plan, undefined, ctx, async () => (await meanwhile(), true)),
    /** applyStoppedAfterRecording runs `plan` and stops it (Ctrl-C) once its moves are recorded: none starts. */
    applyStoppedAfterRecording: (plan: Plan) => stoppedAfterRecording(store, ctx, plan, (signal) => run(plan, signal)),
    /**
     * applyKilledAfterRecording runs `plan` on its own client, which freezes for good (SIGKILL)
     * right after the commit that records the plan's moves: nothing after it lands (the sweep's
     * skips included); its lease then lapses.
     */
    applyKilledAfterRecording: async (plan: Plan) => {
      const dying = clientFrozenAfter(store, (p) => p.key.startsWith(ctx.keys.move(`${plan.id}-`)))
      void run(plan, undefined, makeServiceContext(dying.client, {cluster: 'heal'}, () => new Date(clock.now)))
      await dying.dead
      dying.expireLeases()
    },
    /** n1Dies: n1's lease lapses for good and it is marked draining, as the autopilot does before it heals. */
    n1Dies: async () => {
      await store.delete(ctx.keys.alive('n1'))
      await setNodeState(ctx, 'n1', 'draining')
    },
    leftover: (m: ReturnType<typeof moveOf>) => store.put(ctx.keys.move(m.id), JSON.stringify(m)),
    shard: async () => (await listShards(ctx)).shards.find((v) => v.value.id === s.id)!.value,
    shardById: async (id: number) => (await listShards(ctx)).shards.find((v) => v.value.id === id)!.value,
    /** t: another shard, on neither n1 nor z (a plan can move it to z). */
    t: (await listShards(ctx)).shards.map((v) => v.value).find((v) => v.id !== s.id && v.replicas.every((r) => r.node !== 'n1' && r.node !== z))!,
  }
}
