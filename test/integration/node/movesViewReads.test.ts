import {afterEach, describe, expect, it, vi} from 'vitest'
import {makeServiceContext} from '../../../src/cluster/serviceContext.js'
import {MOVES_VIEW_MAX_AGE_MS} from '../../../src/node/movesView.js'
import {type Store} from '../../../src/store/store.js'
import {MemoryStore} from '../../../src/store/memoryStore.js'
import {useStorageNodePairs} from '../../support/storageNodePair.js'

/**
 * Session 41 (review): a node read `moves/` for each of its readers on its own schedule: a get of the move's record for
 * every read of a copy a move keeps here (nodeHttpApi.ts readFence), a list per orphan sweep pass, a list per
 * anti-entropy run. Now the three share one view (src/node/movesView.ts): a read is reused while it is at least as new
 * as the shard state a reader judges and at most 2 s old. Two in-process StorageNodes on one MemoryStore, the node's
 * reads of `moves/` counted at its store client. The nodes' clock is vitest's fake Date (installed before they start, so
 * the view's clock is it), moved only by the test: the view's age is the test's to set, not the load's.
 */

afterEach(() => {
  vi.useRealTimers()
})

const pair = useStorageNodePairs()

/** world: the pair (n1 the shard's voter, n2 a node that will hold a kept copy), n2's store client counting what it reads under `moves/`. */
async function world() {
  const shared = new MemoryStore()
  const ctx = makeServiceContext(shared, {cluster: 'moves-view'})
  const counted = {moves: 0}
  const counting = (store: Store): Store =>
    new Proxy(store, {
      get(target, prop, receiver) {
        const v: unknown = Reflect.get(target, prop, receiver)
        if (typeof v !== 'function') return v
        return (...args: unknown[]) => {
          if (typeof args[0] === 'string' && args[0].startsWith(ctx.keys.movesPrefix)) counted.moves++
          return (v as (...a: unknown[]) => unknown).apply(target, args)
        }
      },
    })
  let nodeClients = 0
  const p = await pair({ctx, nodeCtx: () => makeServiceContext(nodeClients++ === 1 ? counting(shared.connect()) : shared.connect(), {cluster: 'moves-view'}), dirPrefix: 'shardctl-moves-view-', clientTimeoutMs: 5000})
  return {...p, counted}
}

describe("a node's reads of the move records", {timeout: 30_000}, () => {
  it('Given a move in aborting that keeps n2 out of the shard, When the executor reads the kept copy five times, Then n2 reads moves/ once; and once the move ended with a shard change, the next read is refused (the view is read anew)', async () => {
    // Only Date is faked (timers run as usual), and it stands still unless the test moves it.
    vi.useFakeTimers({toFake: ['Date']})
    const w = await world()
    await w.start('n1')
    await w.start('n2')
    await w.commit([{node: 'n1', role: 'voter'}, {node: 'n2', role: 'learning'}])
    // The executor sets the phase, then takes n2 out of the shard: n2 keeps its copy for the move.
    await w.ctx.store.put(w.ctx.keys.move('m1'), JSON.stringify({id: 'm1', shard: w.first.id, from: 'n1', to: 'n2', phase: 'aborting'}))
    const {shard} = await w.commit([{node: 'n1', role: 'voter'}])
    const before = w.counted.moves
    for (let i = 0; i < 5; i++) await w.n2.digest(shard.id, shard.epoch, {keptFor: 'm1'})
    // Before the view: 5 (one get of moves/m1 per read). Now one.
    expect(w.counted.moves - before).toBe(1)
    // At the view's age bound it is still used; past it, the next read reads anew (once).
    vi.advanceTimersByTime(MOVES_VIEW_MAX_AGE_MS)
    await w.n2.digest(shard.id, shard.epoch, {keptFor: 'm1'})
    expect(w.counted.moves - before).toBe(1)
    vi.advanceTimersByTime(1)
    for (let i = 0; i < 3; i++) await w.n2.digest(shard.id, shard.epoch, {keptFor: 'm1'})
    expect(w.counted.moves - before).toBe(2)

    await w.ctx.store.put(w.ctx.keys.move('m1'), JSON.stringify({id: 'm1', shard: w.first.id, from: 'n1', to: 'n2', phase: 'aborted'}))
    const next = (await w.commit([{node: 'n1', role: 'voter'}])).shard
    const reads = w.counted.moves
    await expect(w.n2.digest(next.id, next.epoch, {keptFor: 'm1'})).rejects.toMatchObject({code: 'NOT_OWNER'})
    expect(w.counted.moves).toBe(reads + 1)
  })
})
