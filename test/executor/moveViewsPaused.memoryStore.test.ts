import {describe, expect, it} from 'vitest'
import {initCluster} from '../../src/cluster/initCluster.js'
import {parseNodeSpecs} from '../../src/cluster/nodeSpec.js'
import {makeServiceContext} from '../../src/cluster/serviceContext.js'
import {setPaused} from '../../src/executor/controlService.js'
import {listMoveViews, moveNote, showMove} from '../../src/executor/moveViews.js'
import {type Move} from '../../src/model/move.js'
import {MemoryStore} from '../../src/store/memoryStore.js'
import {moveOf} from './fixtures.js'

/**
 * `moves pause` stops every copy, but the executor writes no progress while paused, so the
 * records keep the rate and ETA of their last write. `moves list` and `moves show` showed
 * them as live (a copy "at 10.4 KiB/s, ETA 2s" for as long as the pause lasted) and said
 * nothing of the pause.
 */

async function clusterWith(moves: Move[]) {
  const ctx = makeServiceContext(new MemoryStore(), {cluster: 'paused-views'})
  await initCluster(ctx, {shards: 2, rf: 1, nodes: parseNodeSpecs('n1=127.0.0.1:7101,n2=127.0.0.1:7102'), force: false})
  for (const m of moves) await ctx.store.put(ctx.keys.move(m.id), JSON.stringify(m))
  return ctx
}

const copying = moveOf({id: 'p-0', index: 0, shard: 0, from: 'n1', to: 'n2', phase: 'copying', progress: {bytes: 200, keys: 1, totalBytes: 1200, rateBytesPerSec: 400, dataRateBytesPerSec: 100, cursor: null, stalled: false}})
const done = moveOf({id: 'p-1', index: 1, shard: 1, from: 'n1', to: 'n2', phase: 'done'})

describe('move views while the executor is paused', () => {
  it('Given a copying move and no pause, Then its ETA is estimated and it is not marked paused', async () => {
    const ctx = await clusterWith([copying, done])
    const [c, d] = await listMoveViews(ctx)
    expect(c).toMatchObject({id: 'p-0', etaSeconds: 10, paused: false})
    expect(d).toMatchObject({id: 'p-1', paused: false})
    expect(moveNote(c!)).toBe('')
  })

  it('Given `moves pause`, Then an unfinished move shows no ETA and says it is paused; a finished one is not paused', async () => {
    const ctx = await clusterWith([copying, done])
    await setPaused(ctx, true)
    const [c, d] = await listMoveViews(ctx)
    expect(c).toMatchObject({id: 'p-0', etaSeconds: null, paused: true})
    expect(d).toMatchObject({id: 'p-1', paused: false})
    expect(moveNote(c!)).toBe('paused (moves resume)')
    expect(await showMove(ctx, 'p-0')).toMatchObject({etaSeconds: null, paused: true})
  })

  it('Given `moves resume` after the pause, Then the ETA is back', async () => {
    const ctx = await clusterWith([copying])
    await setPaused(ctx, true)
    await setPaused(ctx, false)
    expect(await showMove(ctx, 'p-0')).toMatchObject({etaSeconds: 10, paused: false})
  })
})
