import {describe, expect, it, vi} from 'vitest'
import {initCluster} from '../../src/cluster/initCluster.js'
import {parseNodeSpecs} from '../../src/cluster/nodeSpec.js'
import {makeServiceContext} from '../../src/cluster/serviceContext.js'
import {UserError} from '../../src/errors/errors.js'
import {executePlan} from '../../src/executor/executePlan.js'
import {DEFAULT_EXECUTOR_OPTIONS, type ExecutorEnv} from '../../src/executor/executorEnv.js'
import {commitMoveTransition, type FencedMove} from '../../src/executor/moveStore.js'
import {MemoryStore} from '../../src/store/memoryStore.js'
import {moveOf} from './fixtures.js'

/**
 * Review (s18, review-a): a runner that throws is re-run after the backoff (8ea855e), but the
 * move is added to `loop.reread` BEFORE the backoff sleep, and every loop tick in between
 * (the loop wakes every 500 ms; the backoff is 400 ms doubling to 5 s) runs rereadEnded,
 * which skips the move (still in `running`) and then clears the whole set. So the re-run gets
 * the record from before the failed run: stale phase, cursor and mod revision. The redis
 * runner then acts on the stale phase (e.g. `pending` again: its `save` on CONFLICT re-reads
 * and writes its patch over whatever is stored, resetting the cursor/progress to the slot
 * range's start, or turning `aborting` back into `copying`, or a `done` whose reply was lost
 * into `skipped`). Expected: each run is handed the move as stored.
 */

const runs: FencedMove[] = []
const stored: FencedMove[] = []

vi.mock('../../src/executor/engineMoveRunner.js', async (orig) => {
  const real = await orig<typeof import('../../src/executor/engineMoveRunner.js')>()
  return {
    ...real,
    moveRunnerFor: async () => async (env: ExecutorEnv, fm: FencedMove) => {
      runs.push(fm)
      const {getMove} = await import('../../src/executor/moveStore.js')
      const now = await getMove(env.ctx, fm.value.id)
      stored.push(now)
      // The first run gets as far as the runner does before a master dies: it records `copying` with a cursor.
      if (runs.length === 1) await commitMoveTransition(env.ctx, env.fence, fm, {phase: 'copying', progress: {...fm.value.progress, keys: 120, cursor: 'fwd:3:open'}})
      throw new UserError('NODE_UNREACHABLE', 'redis master 127.0.0.1:7102 does not answer')
    },
  }
})

describe('executePlan re-runs a failed engine runner on the move as stored', () => {
  it('hands each re-run the record the failed run left, not the one from before it', async () => {
    const store = new MemoryStore()
    const ctx = makeServiceContext(store, {cluster: 'reread'})
    await initCluster(ctx, {shards: 1, rf: 1, nodes: parseNodeSpecs('n1=127.0.0.1:7101@a,n2=127.0.0.1:7102@b'), force: false})
    await store.put(ctx.keys.move('p-0'), JSON.stringify(moveOf({shard: 0, from: 'n1', to: 'n2', phase: 'pending'})))

    const stop = new AbortController()
    // The loop's 500 ms tick passes in 1 ms; the 400/800/1600 ms backoffs take 20/40/80 ms, so
    // many loop ticks (each a rereadEnded) fall inside every backoff, whatever the machine's load.
    const sleep = (ms: number, signal: AbortSignal) =>
      new Promise<void>((resolve) => {
        const t = setTimeout(resolve, ms === 500 ? 1 : ms / 20)
        signal.addEventListener('abort', () => (clearTimeout(t), resolve()), {once: true})
      })
    await executePlan(
      ctx,
      {limits: {maxConcurrent: 1, perNode: 1}, throttle: null, nodeThrottle: null, options: DEFAULT_EXECUTOR_OPTIONS, confirm: async () => true, holder: 'test'},
      {
        now: () => Date.now(),
        sleep,
        emit: (e) => {
          if (e.type === 'retry' && runs.length >= 4) stop.abort()
        },
      },
      stop.signal,
    )
    expect(runs.length).toBeGreaterThanOrEqual(4)
    const seen = runs.map((r, i) => ({run: i + 1, handed: `${r.value.phase}@${r.modRevision}`, stored: `${stored[i]!.value.phase}@${stored[i]!.modRevision}`}))
    expect(seen.filter((s) => s.handed !== s.stored)).toEqual([])
  })
})
