import {describe, expect, it} from 'vitest'
import {initCluster} from '../../src/cluster/initCluster.js'
import {parseNodeSpecs} from '../../src/cluster/nodeSpec.js'
import {makeServiceContext} from '../../src/cluster/serviceContext.js'
import {markedMoveNext} from '../../src/executor/markedMoveRunner.js'
import {MemoryStore} from '../../src/store/memoryStore.js'
import {moveOf} from './fixtures.js'

/**
 * `moves cancel ID` and `moves rollback ID` say who carries the mark out. They used to say "the
 * executor" (or "apply --resume if none is running") whatever held the executor lock, though an
 * apply of another plan never looks at the move: the mark waited for a later `apply --resume`.
 */
async function world(lockPlan: string | null | undefined | 'none') {
  const store = new MemoryStore()
  const ctx = makeServiceContext(store, {cluster: 'marked'})
  await initCluster(ctx, {shards: 2, rf: 1, nodes: parseNodeSpecs('n1=127.0.0.1:7101,n2=127.0.0.1:7102'), force: false})
  const move = {...moveOf({shard: 0, from: 'n1', to: 'n2', phase: 'copying'}), id: 'p-0000', plan: 'p'}
  await store.put(ctx.keys.move(move.id), JSON.stringify(move))
  if (lockPlan !== 'none') await store.put(ctx.keys.executorLock, JSON.stringify({holder: 'shardctl apply', host: 'h', pid: 1, acquiredAt: 't', ...(lockPlan === undefined ? {} : {plan: lockPlan})}))
  return ctx
}

describe('who carries out a cancel or rollback of one move', () => {
  it('given an apply of another plan holding the lock, then it says that apply does not run the move and apply --resume carries the mark out after it', async () => {
    const line = await markedMoveNext(await world('r'), 'p-0000', 'the cancel')
    expect(line).toBe('the running executor (shardctl apply, applying plan r) does not run this move: once it ends, `shardctl apply --resume` carries out the cancel')
  })

  it("given the move's own plan's apply or a resume holding the lock, then that executor carries it out", async () => {
    expect(await markedMoveNext(await world('p'), 'p-0000', 'the rollback')).toBe('the running executor (shardctl apply, applying plan p) carries out the rollback within a second')
    expect(await markedMoveNext(await world(null), 'p-0000', 'the cancel')).toBe('the running executor (shardctl apply, resuming every recorded move) carries out the cancel within a second')
  })

  it('given no executor, or one whose lock does not say what it runs, then it says so', async () => {
    expect(await markedMoveNext(await world('none'), 'p-0000', 'the cancel')).toBe('no executor is running: `shardctl apply --resume` carries out the cancel')
    expect(await markedMoveNext(await world(undefined), 'p-0000', 'the cancel')).toContain('without saying which moves it runs')
  })
})
