import {describe, expect, it} from 'vitest'
import {listShards} from '../../src/cluster/clusterRepo.js'
import {initCluster} from '../../src/cluster/initCluster.js'
import {parseNodeSpecs} from '../../src/cluster/nodeSpec.js'
import {makeServiceContext} from '../../src/cluster/serviceContext.js'
import {defaultLatencyThrottle} from '../../src/executor/adaptiveThrottle.js'
import {type ExecutorEvent, type ThrottleStepEvent} from '../../src/executor/executorEnv.js'
import {type MoveEffects} from '../../src/executor/moveEffects.js'
import {commitMoveTransition} from '../../src/executor/moveStore.js'
import {type RouterLatency} from '../../src/router/latencyPublisher.js'
import {MemoryStore} from '../../src/store/memoryStore.js'
import {fakeClock, fakeClockApply, moveOf} from './fixtures.js'

const MiB = 1024 * 1024

/**
 * `--throttle auto` wired end to end on the in-memory store, in fake time: a router's report
 * in `latency/routers/<id>` reaches the executor's controller, every step is a `throttle`
 * event, and the rate it sets is the global bucket's rate the copy sees. The copy (a fake
 * node effect) reports 10 MiB/s flowing and rewrites the router's report as it goes: under
 * target for its first half, far over it after.
 */
/** oneMoveCluster is a two-node, one-shard cluster on the memory store, both nodes alive, with one move of the shard recorded; `now` is its clock. */
async function oneMoveCluster(now: () => number): Promise<{store: MemoryStore; ctx: ReturnType<typeof makeServiceContext>}> {
  const store = new MemoryStore()
  const ctx = makeServiceContext(store, {cluster: 'auto'}, () => new Date(now()))
  await initCluster(ctx, {shards: 1, rf: 1, nodes: parseNodeSpecs('n1=127.0.0.1:7101@a,n2=127.0.0.1:7102@b'), force: false})
  for (const id of ['n1', 'n2']) await store.put(ctx.keys.alive(id), JSON.stringify({node: id, address: '127.0.0.1:1', pid: 1, startedAt: 't'}))
  const shard = (await listShards(ctx)).shards[0]!.value
  const from = shard.replicas[0]!.node
  const move = moveOf({shard: shard.id, from, to: from === 'n1' ? 'n2' : 'n1', baseEpoch: shard.epoch, epoch: shard.epoch})
  await store.put(ctx.keys.move(move.id), JSON.stringify(move))
  return {store, ctx}
}

describe('--throttle auto in executePlan', () => {
  it('follows the routers\' report: raises while under target, cuts once it breaches, and the copy sees each rate', async () => {
    const clock = fakeClock()
    const {store, ctx} = await oneMoveCluster(() => clock.now)

    const report = async (p99Ms: number) => {
      const r: RouterLatency = {p99Ms, samples: 400, windowMs: 1000, at: clock.now}
      await store.put(ctx.keys.routerLatency('r1'), JSON.stringify(r))
    }
    const seenByCopy: number[] = []
    const events: ExecutorEvent[] = []
    const effects: MoveEffects = {
      barrier: async () => {},
      copy: async (env, m) => {
        for (let i = 0; i < 240; i++) {
          await report(i < 120 ? 5 : 100) // target 20 ms: a quarter of it, then 5x
          env.emit({type: 'progress', move: m.value.id, bytes: i * MiB, keys: i, totalBytes: 0, rateBytesPerSec: 10 * MiB, dataRateBytesPerSec: 9 * MiB, stalled: false, at: new Date(clock.now).toISOString()})
          seenByCopy.push(env.throttles.global.currentRate() ?? Infinity)
          await env.sleep(250)
        }
        return commitMoveTransition(env.ctx, env.fence, m, {phase: 'promoting', progress: {...m.value.progress, bytes: 240 * MiB, keys: 240}})
      },
      verify: async () => {},
      drain: async () => {},
      drop: async () => 0,
      catchUp: async () => {},
    }
    const result = await fakeClockApply(ctx, clock, {limits: {maxConcurrent: 1, perNode: 1}, adaptive: defaultLatencyThrottle(20), emit: (e) => events.push(e), effects})
    expect(result.counts).toEqual({done: 1})

    const steps = events.filter((e): e is ThrottleStepEvent => e.type === 'throttle')
    const raises = steps.filter((s) => s.action === 'raise')
    const cuts = steps.filter((s) => s.action === 'cut')
    expect(raises.length).toBeGreaterThan(0)
    expect(cuts.length).toBeGreaterThan(0)
    expect(steps.every((s) => s.signal === "routers' client p99" && s.targetP99Ms === 20)).toBe(true)
    // Raises came while the report was under target, and never took the rate past 2x the 10 MiB/s flowing.
    expect(raises.every((s) => s.p99Ms === 5 && s.rateBytesPerSec <= 20 * MiB)).toBe(true)
    // Cuts came on the breach, each ×0.25 (100 ms is 5x the target, past the largest cut), down to the floor.
    expect(cuts.every((s) => s.p99Ms === 100)).toBe(true)
    expect(cuts.at(-1)?.rateBytesPerSec).toBe(256 * 1024)
    // The copy saw the rates the controller set: its peak, then the floor.
    expect(Math.max(...seenByCopy)).toBe(Math.max(...raises.map((s) => s.rateBytesPerSec)))
    expect(seenByCopy.at(-1)).toBe(256 * 1024)
    // Over target at the floor for the rest of the copy (about 30 s): the operator is told once that slowing cannot meet the target.
    const floorLines = events.filter((e) => e.type === 'info' && e.message.includes('floor'))
    expect(floorLines).toHaveLength(1)
    expect(floorLines[0]).toMatchObject({message: expect.stringMatching(/^auto throttle: routers' client p99 was over the target 20\.0 ms \(last 100\.0 ms\) in 5 of the last 10 readings, each asking for a copy slower than its 256 KiB\/s floor: slowing the copy cannot meet the target/)})
  })

  it('with a factor target (--max-client-p99 2x), sets the target from the routers\' p99 before the moves start, and falls back to the given one without client traffic', async () => {
    for (const [before, steadyMs] of [[8, undefined], [null, undefined], [8, 6]] as const) {
      const clock = fakeClock()
      const {store, ctx} = await oneMoveCluster(() => clock.now)
      let copyStartedAt: number | undefined
      // The router reports `before` each second until the copy starts (none at all for null), then twice that;
      // with `steadyMs`, its 10 s window beside it.
      const report = async () => {
        const p99Ms = copyStartedAt === undefined ? before : 2 * (before ?? 10)
        if (p99Ms === null) return
        const steady = steadyMs === undefined ? {} : {steady: {p99Ms: steadyMs, samples: 4000, windowMs: 10_000}}
        const r: RouterLatency = {p99Ms, samples: 400, windowMs: 1000, at: clock.now, ...steady}
        await store.put(ctx.keys.routerLatency('r1'), JSON.stringify(r))
      }
      await report()
      const events: ExecutorEvent[] = []
      const effects: MoveEffects = {
        barrier: async () => {},
        copy: async (env, m) => {
          copyStartedAt = clock.now
          for (let i = 0; i < 20; i++) {
            env.emit({type: 'progress', move: m.value.id, bytes: i * MiB, keys: i, totalBytes: 0, rateBytesPerSec: 10 * MiB, dataRateBytesPerSec: 9 * MiB, stalled: false, at: new Date(clock.now).toISOString()})
            await env.sleep(250)
          }
          return commitMoveTransition(env.ctx, env.fence, m, {phase: 'promoting', progress: {...m.value.progress, bytes: 20 * MiB, keys: 20}})
        },
        verify: async () => {},
        drain: async () => {},
        drop: async () => 0,
        catchUp: async () => {},
      }
      const result = await fakeClockApply(ctx, clock, {limits: {maxConcurrent: 1, perNode: 1}, adaptive: defaultLatencyThrottle(25), latencyFactor: 2, onSleep: report, emit: (e) => events.push(e), effects})
      expect(result.counts).toEqual({done: 1})
      const info = events.filter((e) => e.type === 'info').map((e) => (e as {message: string}).message)
      const steps = events.filter((e): e is ThrottleStepEvent => e.type === 'throttle')
      expect(steps.length).toBeGreaterThan(0)
      if (before === null) {
        expect(info).toContain("auto throttle: no routers' client p99 measured before the copies (no client traffic yet); target 25 ms")
        expect(steps.every((s) => s.targetP99Ms === 25)).toBe(true)
      } else if (steadyMs !== undefined) {
        expect(info).toContain("auto throttle: routers' client p99 over the 10 s before the copies 6.0 ms (4000 latencies); target 12.0 ms (2x)")
        expect(steps.every((s) => s.targetP99Ms === 12)).toBe(true)
      } else {
        expect(info).toContain("auto throttle: routers' client p99 before the copies 8.0 ms (median of 3 readings); target 16.0 ms (2x)")
        expect(steps.every((s) => s.targetP99Ms === 16)).toBe(true)
        // Measured before the copy began: the 16 ms the copy's reports show were never part of it.
        expect(copyStartedAt).toBeDefined()
        // The copy's 16 ms reports are at the target: held or cut, never raised.
        expect(steps.filter((s) => s.p99Ms === 16).every((s) => s.action !== 'raise')).toBe(true)
      }
    }
  })
})
