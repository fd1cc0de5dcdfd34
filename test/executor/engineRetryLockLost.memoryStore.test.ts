import {describe, expect, it, vi} from 'vitest'
import {initCluster} from '../../src/cluster/initCluster.js'
import {parseNodeSpecs} from '../../src/cluster/nodeSpec.js'
import {makeServiceContext} from '../../src/cluster/serviceContext.js'
import {UserError} from '../../src/errors/errors.js'
import {executePlan} from '../../src/executor/executePlan.js'
import {DEFAULT_EXECUTOR_OPTIONS} from '../../src/executor/executorEnv.js'
import {type FencedMove, LockLostError} from '../../src/executor/moveStore.js'
import {MemoryStore} from '../../src/store/memoryStore.js'
import {moveOf} from './fixtures.js'

/**
 * Review (s18, review-a): a LockLostError from one runner sets loop.fatal, but a sibling move
 * sleeping its run backoff (8ea855e: up to 5 s) sleeps on the executor's stop signal, which a
 * fatal does not abort (only the lease's onLost does, and a fenced-out write can come first);
 * runAll awaits every running promise, so the lost lock is reported only when that backoff
 * ends. Nothing is written meanwhile (every write is fenced), so this is a delay, not harm.
 * Expected: the backoff sleep ends at once on a fatal (executePlan settles before it would end).
 */

let failuresOfA = 0
vi.mock('../../src/executor/engineMoveRunner.js', async (orig) => {
  const real = await orig<typeof import('../../src/executor/engineMoveRunner.js')>()
  return {
    ...real,
    moveRunnerFor: async () => async (_env: unknown, fm: FencedMove) => {
      if (fm.value.id === 'p-0') {
        failuresOfA++
        throw new UserError('NODE_UNREACHABLE', 'redis master 127.0.0.1:7102 does not answer')
      }
      // The other move waits until A sleeps its longest backoff, then finds itself fenced out.
      while (failuresOfA < 5) await new Promise((r) => setTimeout(r, 5))
      throw new LockLostError('executor-lock')
    },
  }
})

describe('a lost lock stops apply without waiting for another move\'s backoff', () => {
  it('settles before a sibling move\'s 5 s backoff sleep runs out', async () => {
    const store = new MemoryStore()
    const ctx = makeServiceContext(store, {cluster: 'locklost'})
    await initCluster(ctx, {shards: 2, rf: 1, nodes: parseNodeSpecs('n1=127.0.0.1:7101@a,n2=127.0.0.1:7102@b,n3=127.0.0.1:7103@c,n4=127.0.0.1:7104@d'), force: false})
    await store.put(ctx.keys.move('p-0'), JSON.stringify(moveOf({index: 0, shard: 0, from: 'n1', to: 'n2', phase: 'copying'})))
    await store.put(ctx.keys.move('p-1'), JSON.stringify(moveOf({index: 1, shard: 1, from: 'n3', to: 'n4', phase: 'copying'})))

    const log: string[] = []
    // Short sleeps (loop ticks, the first backoffs) pass at once; the 5 s backoff takes 1.5 s of real time unless aborted.
    const sleep = (ms: number, signal: AbortSignal) =>
      ms < 5000
        ? new Promise<void>((r) => setTimeout(r, 1))
        : new Promise<void>((resolve) => {
            const t = setTimeout(() => (log.push('5 s backoff ran out'), resolve()), 1500)
            signal.addEventListener('abort', () => (clearTimeout(t), log.push('5 s backoff aborted'), resolve()), {once: true})
          })
    const run = executePlan(
      ctx,
      {limits: {maxConcurrent: 2, perNode: 1}, throttle: null, nodeThrottle: null, options: DEFAULT_EXECUTOR_OPTIONS, confirm: async () => true, holder: 'test'},
      {now: () => Date.now(), sleep, emit: () => {}},
      new AbortController().signal,
    ).then(
      () => log.push('apply returned'),
      (e: unknown) => log.push(`apply threw ${e instanceof LockLostError ? "LockLostError" : String(e)}`),
    )
    await run
    expect(log, JSON.stringify(log)).toContain('apply threw LockLostError')
    // The backoff was cut short by the lost lock, not waited out, before apply settled.
    expect(log.slice(0, log.indexOf('apply threw LockLostError'))).not.toContain('5 s backoff ran out')
  })
})
