import {describe, expect, it} from 'vitest'
import {getControl, listShards} from '../../src/cluster/clusterRepo.js'
import {initCluster} from '../../src/cluster/initCluster.js'
import {parseNodeSpecs} from '../../src/cluster/nodeSpec.js'
import {makeServiceContext} from '../../src/cluster/serviceContext.js'
import {readSnapshot} from '../../src/cluster/snapshotService.js'
import {setThrottle} from '../../src/executor/controlService.js'
import {type ExecutorEvent} from '../../src/executor/executorEnv.js'
import {type MoveEffects} from '../../src/executor/moveEffects.js'
import {commitMoveTransition} from '../../src/executor/moveStore.js'
import {sealPlan} from '../../src/model/plan.js'
import {planRebalance} from '../../src/planner/planRebalance.js'
import {MemoryStore} from '../../src/store/memoryStore.js'
import {fakeClock, fakeClockApply} from './fixtures.js'

/**
 * A `throttle set` overrides the running executor's rate and stays in etcd after that run. A
 * later run given a rate of its own (`--throttle`, throttleGiven) used to run at the old
 * override anyway (`apply --throttle 1MiB/s` printed "throttle now 65536 B/s", and `--throttle
 * auto` never adapted). Here: one memory store, one move per run, fake node effects whose copy
 * notes the global rate the run copies at.
 */
async function world() {
  const clock = fakeClock()
  const store = new MemoryStore()
  const ctx = makeServiceContext(store, {cluster: 'stored-throttle'}, () => new Date(clock.now))
  await initCluster(ctx, {shards: 2, rf: 1, nodes: parseNodeSpecs('n1=127.0.0.1:7101,n2=127.0.0.1:7102'), force: false})
  for (const id of ['n1', 'n2']) await store.put(ctx.keys.alive(id), JSON.stringify({node: id, address: '127.0.0.1:1', pid: 1, startedAt: 't'}))
  const copiedAt: (number | null)[] = []
  const effects: MoveEffects = {
    barrier: async () => {},
    copy: async (env, m) => {
      copiedAt.push(env.throttles.global.currentRate())
      return commitMoveTransition(env.ctx, env.fence, m, {phase: 'promoting'})
    },
    verify: async () => {},
    drain: async () => {},
    drop: async () => 0,
    catchUp: async () => {},
  }
  /** applyOneMove moves the first shard to the other node, at `throttle` (given: as `--throttle` would), and returns what the run said. */
  const applyOneMove = async (id: string, throttle: number | null, throttleGiven: boolean | undefined) => {
    const shard = (await listShards(ctx)).shards[0]!.value
    const from = shard.replicas[0]!.node
    const template = planRebalance(await readSnapshot(ctx), {}, {id: 'x', createdAt: new Date(clock.now).toISOString()})
    const plan = sealPlan({...template, id, actions: [{kind: 'move', shard: shard.id, epoch: shard.epoch, from, to: from === 'n1' ? 'n2' : 'n1', bytes: 0, keys: 0, reason: {kind: 'balance', detail: 'x'}, predicted: {source: 1, target: 1}}]})
    const events: ExecutorEvent[] = []
    const result = await fakeClockApply(ctx, clock, {plan, limits: {maxConcurrent: 1, perNode: 1}, throttle, ...(throttleGiven === undefined ? {} : {throttleGiven}), emit: (e) => void events.push(e), effects})
    expect(result.counts.done).toBe(1)
    return events.flatMap((e) => (e.type === 'info' ? [e.message] : []))
  }
  return {ctx, copiedAt, applyOneMove}
}

describe('a throttle set for an earlier run', () => {
  it('given a throttle set left in etcd, when a run is given a --throttle of its own, then it copies at that rate and the old override is cleared', async () => {
    const {ctx, copiedAt, applyOneMove} = await world()
    await setThrottle(ctx, 64 * 1024)
    const said = await applyOneMove('p1', 1024 * 1024, true)
    expect(copiedAt).toEqual([1024 * 1024])
    expect((await getControl(ctx)).throttleBytesPerSec).toBeNull()
    expect(said.join('\n')).toContain("cleared the throttle of 64.0 KiB/s an earlier `throttle set` left: this run's --throttle holds")
    expect(said.join('\n')).not.toContain('throttle now 65536 B/s')
  })

  it('given a throttle set left in etcd, when a run has no --throttle (a resume, the autopilot), then the override holds and the run says where its rate comes from', async () => {
    const {ctx, copiedAt, applyOneMove} = await world()
    await setThrottle(ctx, 64 * 1024)
    const said = await applyOneMove('p1', null, undefined)
    expect(copiedAt).toEqual([64 * 1024])
    expect((await getControl(ctx)).throttleBytesPerSec).toBe(64 * 1024)
    expect(said.join('\n')).toContain('throttle 64.0 KiB/s from an earlier `throttle set` holds')
  })

  it('given no throttle set, when a run is given a --throttle, then it copies at it and says nothing of an override', async () => {
    const {copiedAt, applyOneMove} = await world()
    const said = await applyOneMove('p1', 2 * 1024 * 1024, true)
    expect(copiedAt).toEqual([2 * 1024 * 1024])
    expect(said.join('\n')).not.toMatch(/throttle set/)
  })
})
