import {describe, expect, it} from 'vitest'
import {initCluster} from '../../src/cluster/initCluster.js'
import {parseNodeSpecs} from '../../src/cluster/nodeSpec.js'
import {makeServiceContext, type ServiceContext} from '../../src/cluster/serviceContext.js'
import {type ApplyResult} from '../../src/executor/executePlan.js'
import {type ExecutorEvent} from '../../src/executor/executorEnv.js'
import {getMove} from '../../src/executor/moveStore.js'
import {RETRY_POLICY} from '../../src/executor/retryPolicy.js'
import {type Move} from '../../src/model/move.js'
import {MemoryStore} from '../../src/store/memoryStore.js'
import {type FakeClock, fakeClock, fakeClockApply, moveOf} from './fixtures.js'

/**
 * A redis-engine move whose runner keeps failing without progress is given up after
 * RETRY_POLICY.maxAttempts runs: recorded `failed` with a reason naming the last error and the
 * way out (`apply --resume`, `redis fix --seed <live node> --yes`), and apply returns by itself.
 * Before, it was retried with backoff for as long as apply ran. `apply --resume` takes a failed
 * redis move up again when its shard record is as the move left it, and leaves it failed when
 * the records moved on. Fake time (each sleep advances the clock); the masters are addresses
 * nothing listens on, so every run fails at connect (or, for a missing shard, before any I/O).
 */

async function redisCluster(name: string): Promise<{ctx: ServiceContext; clock: FakeClock}> {
  const clock = fakeClock()
  const store = new MemoryStore()
  const ctx = makeServiceContext(store, {cluster: name}, () => new Date(clock.now))
  // Ports in 1..1023 that no test server binds: connection refused at once.
  await initCluster(ctx, {shards: 1, rf: 1, nodes: parseNodeSpecs('n1=127.0.0.1:9@a,n2=127.0.0.1:13@b'), force: false})
  const meta = await store.get(ctx.keys.meta)
  await store.put(ctx.keys.meta, JSON.stringify({...JSON.parse(meta!.value), engine: 'redis', redisSeed: '127.0.0.1:9'}))
  return {ctx, clock}
}

async function resume(ctx: ServiceContext, clock: FakeClock, events: ExecutorEvent[], stopAfterRetries = 40): Promise<ApplyResult> {
  const stop = new AbortController()
  let retries = 0
  return fakeClockApply(ctx, clock, {
    limits: {maxConcurrent: 1, perNode: 1},
    // Yield to I/O at each sleep: the runner's connects are real (refused at once), and a loop of resolved sleeps would starve them.
    onSleep: () => new Promise<void>((r) => setImmediate(r)),
    emit: (e) => {
      events.push(e)
      // A guard, not the behaviour: without a bound the run would never end.
      if (e.type === 'retry' && ++retries >= stopAfterRetries) stop.abort()
    },
    signal: stop.signal,
  })
}

describe('executePlan gives up on a redis move that keeps failing', () => {
  it('records it failed after maxAttempts runs without progress, naming the error and the way out, and returns', async () => {
    const {ctx, clock} = await redisCluster('giveup')
    await ctx.store.put(ctx.keys.move('p-0'), JSON.stringify(moveOf({shard: 999, from: 'n1', to: 'n2', phase: 'copying'})))
    const events: ExecutorEvent[] = []
    const result = await resume(ctx, clock, events)
    expect(result.stopped).toBe(false)
    expect(events.filter((e) => e.type === 'retry')).toHaveLength(RETRY_POLICY.maxAttempts - 1)
    const move = (await getMove(ctx, 'p-0')).value
    expect(move.phase).toBe('failed')
    expect(move.reason).toMatch(new RegExp(`^gave up after ${RETRY_POLICY.maxAttempts} runs in a row failed without progress; last: shard 999 of move p-0 does not exist; `))
    expect(move.reason).toContain('`shardctl apply --resume`')
    expect(move.reason).toContain('`shardctl redis fix --seed <live node> --yes`')
    expect(move.reason).not.toContain('\n')
    expect(result.moves).toEqual([expect.objectContaining({id: 'p-0', phase: 'failed'})])
    expect(events).toContainEqual(expect.objectContaining({type: 'phase', move: 'p-0', phase: 'failed'}))

    // Its shard is gone: `apply --resume` leaves it failed and has nothing to run.
    const again: ExecutorEvent[] = []
    await resume(ctx, clock, again)
    expect((await getMove(ctx, 'p-0')).value.phase).toBe('failed')
    expect(again).toContainEqual(expect.objectContaining({type: 'info', message: expect.stringContaining('nothing to resume')}))
  })

  it('`apply --resume` runs a failed move again from its cursor when its shard is as the move left it; not once the shard moved on', async () => {
    const {ctx, clock} = await redisCluster('giveup-resume')
    const shard = JSON.parse((await ctx.store.get(ctx.keys.shard(0)))!.value) as {epoch: number; replicas: {node: string}[]}
    const from = shard.replicas[0]!.node
    const to = from === 'n1' ? 'n2' : 'n1'
    const cursor = JSON.stringify({dir: 'fwd', next: 7, open: true})
    const failed: Move = moveOf({shard: 0, from, to, phase: 'failed', baseEpoch: shard.epoch, epoch: shard.epoch, reason: 'gave up after 8 runs in a row failed without progress; last: x', progress: {bytes: 0, keys: 0, totalBytes: 0, rateBytesPerSec: 0, dataRateBytesPerSec: 0, cursor, stalled: false}})
    await ctx.store.put(ctx.keys.move('p-0'), JSON.stringify(failed))
    const events: ExecutorEvent[] = []
    await resume(ctx, clock, events)
    expect(events).toContainEqual(expect.objectContaining({type: 'info', message: expect.stringMatching(/^move p-0 \(shard 0\) had failed \(gave up after 8 runs.*\): resuming it in copying$/)}))
    // It ran again (the masters still do not answer) and was given up again, its cursor kept.
    expect(events.filter((e) => e.type === 'retry' && /127\.0\.0\.1:(9|13) did not answer/.test(e.error))).toHaveLength(RETRY_POLICY.maxAttempts - 1)
    const after = (await getMove(ctx, 'p-0')).value
    expect(after).toMatchObject({phase: 'failed', progress: expect.objectContaining({cursor})})
    expect(after.reason).toContain('did not answer')

    // The shard moved on (another epoch): the failed move is not taken up again.
    await ctx.store.put(ctx.keys.shard(0), JSON.stringify({...JSON.parse((await ctx.store.get(ctx.keys.shard(0)))!.value), epoch: shard.epoch + 4}))
    const later: ExecutorEvent[] = []
    await resume(ctx, clock, later)
    expect(later.filter((e) => e.type === 'retry')).toEqual([])
    expect((await getMove(ctx, 'p-0')).value.phase).toBe('failed')
  })
})
