import {describe, expect, it, vi} from 'vitest'
import {initCluster} from '../../src/cluster/initCluster.js'
import {parseNodeSpecs} from '../../src/cluster/nodeSpec.js'
import {makeServiceContext} from '../../src/cluster/serviceContext.js'
import {executePlan} from '../../src/executor/executePlan.js'
import {DEFAULT_EXECUTOR_OPTIONS} from '../../src/executor/executorEnv.js'
import {type FencedMove} from '../../src/executor/moveStore.js'
import {MemoryStore} from '../../src/store/memoryStore.js'
import {moveOf} from './fixtures.js'

/**
 * An executor that loses its lease (frozen past it, or cut off from etcd) stops; the executor
 * that takes over may finish its move meanwhile. The stopped one's summary showed its own
 * last view ("Stopped: 1 copying") of a move `moves show` already called done. After a lost
 * lease the summary is etcd's record, which the takeover executor keeps.
 */
const world = vi.hoisted(() => ({store: undefined as unknown as import('../../src/store/memoryStore.js').MemoryStore, moveKey: '', lockKey: ''}))
vi.mock('../../src/executor/engineMoveRunner.js', async (orig) => {
  const real = await orig<typeof import('../../src/executor/engineMoveRunner.js')>()
  return {
    ...real,
    moveRunnerFor: async () => async (_env: unknown, fm: FencedMove) => {
      // The takeover executor finishes the move while this one is frozen, then this one's lease ends.
      await world.store.put(world.moveKey, JSON.stringify({...fm.value, phase: 'done'}))
      const lease = (await world.store.get(world.lockKey))?.lease
      if (lease === undefined) throw new Error('the executor lock has no lease')
      world.store.expireLease(String(lease))
      await new Promise((r) => setTimeout(r, 10))
      return fm
    },
  }
})

describe('the summary of an executor that lost its lease', () => {
  it("is etcd's record of its moves, not its own stale view", async () => {
    const store = new MemoryStore()
    const ctx = makeServiceContext(store, {cluster: 'summary'})
    await initCluster(ctx, {shards: 1, rf: 1, nodes: parseNodeSpecs('n1=127.0.0.1:7101@a,n2=127.0.0.1:7102@b'), force: false})
    Object.assign(world, {store, moveKey: ctx.keys.move('p-0'), lockKey: ctx.keys.executorLock})
    await store.put(ctx.keys.move('p-0'), JSON.stringify(moveOf({index: 0, shard: 0, from: 'n1', to: 'n2', phase: 'copying'})))
    const result = await executePlan(
      ctx,
      {limits: {maxConcurrent: 1, perNode: 1}, throttle: null, nodeThrottle: null, options: DEFAULT_EXECUTOR_OPTIONS, confirm: async () => true, holder: 'test'},
      {now: () => Date.now(), sleep: (ms, signal) => new Promise<void>((r) => (signal.aborted ? r() : (setTimeout(r, Math.min(ms, 5)), undefined))), emit: () => {}},
      new AbortController().signal,
    )
    expect(result.leaseLost).toBe(true)
    expect(result.moves.map((m) => m.phase)).toEqual(['done'])
    expect(result.counts).toEqual({done: 1})
  })
})
