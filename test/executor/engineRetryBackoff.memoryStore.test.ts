import {describe, expect, it} from 'vitest'
import {initCluster} from '../../src/cluster/initCluster.js'
import {parseNodeSpecs} from '../../src/cluster/nodeSpec.js'
import {makeServiceContext} from '../../src/cluster/serviceContext.js'
import {type ExecutorEvent} from '../../src/executor/executorEnv.js'
import {backoffMs} from '../../src/executor/retryPolicy.js'
import {MemoryStore} from '../../src/store/memoryStore.js'
import {fakeClock, fakeClockApply, moveOf} from './fixtures.js'

/**
 * A redis-engine move whose runner keeps throwing (here: its shard record is gone, which the
 * runner finds before any Redis I/O; in the field, a master down or failed over) is run again
 * after the retry policy's backoff, not at once: in fake time, where each sleep advances the
 * clock, consecutive failures are at least backoffMs(n) apart. Before the backoff the executor
 * restarted the runner on its next half-second tick, and a real SIGKILLed master was retried
 * every 30 to 50 ms, a log line each, for as long as apply ran.
 */
describe('executePlan retries a failing engine runner with backoff', () => {
  it('spaces the runs of a redis move that keeps failing by the doubling backoff, and keeps it scheduled', async () => {
    const clock = fakeClock()
    const store = new MemoryStore()
    const ctx = makeServiceContext(store, {cluster: 'backoff'}, () => new Date(clock.now))
    await initCluster(ctx, {shards: 1, rf: 1, nodes: parseNodeSpecs('n1=127.0.0.1:7101@a,n2=127.0.0.1:7102@b'), force: false})
    const meta = await store.get(ctx.keys.meta)
    await store.put(ctx.keys.meta, JSON.stringify({...JSON.parse(meta!.value), engine: 'redis', redisSeed: '127.0.0.1:7101'}))
    await store.put(ctx.keys.move('p-0'), JSON.stringify(moveOf({shard: 999, from: 'n1', to: 'n2', phase: 'copying'})))

    const stop = new AbortController()
    const retries: ExecutorEvent[] = []
    const result = await fakeClockApply(ctx, clock, {
      limits: {maxConcurrent: 1, perNode: 1},
      emit: (e) => {
        if (e.type !== 'retry') return
        retries.push(e)
        if (retries.length === 6) stop.abort()
      },
      signal: stop.signal,
    })
    expect(result.moves).toEqual([expect.objectContaining({id: 'p-0', phase: 'copying'})])
    expect(retries.every((e) => e.type === 'retry' && /shard 999 of move p-0 does not exist/.test(e.error))).toBe(true)
    const at = retries.map((e) => Date.parse(e.at))
    for (let n = 1; n < at.length; n++) expect(at[n]! - at[n - 1]!, `gap after failure ${n}`).toBeGreaterThanOrEqual(backoffMs(n))
  })
})
