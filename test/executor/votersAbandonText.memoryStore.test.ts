import {describe, expect, it} from 'vitest'
import {initCluster} from '../../src/cluster/initCluster.js'
import {parseNodeSpecs} from '../../src/cluster/nodeSpec.js'
import {makeServiceContext} from '../../src/cluster/serviceContext.js'
import {showMove} from '../../src/executor/moveViews.js'
import {votersAbandonText} from '../../src/executor/votersAbandonText.js'
import {MemoryStore} from '../../src/store/memoryStore.js'
import {moveOf} from './fixtures.js'

/**
 * `moves show` said a `moves abandon-voters` mark was set but not which voters it names nor the data dirs they last served
 * (until session 42): an operator could not tell whether a voter back up would withdraw it (only on that dir) or which
 * voter down it does not cover (one down since waits).
 */
describe('moves show: the abandon-voters mark', () => {
  const marked = moveOf({id: 'p-0', shard: 0, from: 'n1', to: 'n4', phase: 'cleanup', abandonVotersRequested: 'T1', abandonVotersDirs: {n3: 'dir-3/i1', n2: null}})

  it('names each voter with the claim it last registered under, and how the mark ends', () => {
    expect(votersAbandonText(marked)).toBe(
      'down staying voters abandoned by the operator at T1 (--accept-data-loss): n2 (last on no readable claim), n3 (last on dir-3/i1); the refill of n4 goes on from what is up while they hold no lease; every one back on its data dir first withdraws the mark',
    )
  })

  it('says a mark from before session 41 (no voters named) covers every staying voter down', () => {
    expect(votersAbandonText({...marked, abandonVotersDirs: undefined})).toContain('every staying voter down (a mark that names none)')
  })

  it('says nothing without a mark, or once the move finished', () => {
    expect(votersAbandonText({...marked, abandonVotersRequested: undefined})).toBeUndefined()
    expect(votersAbandonText({...marked, phase: 'done'})).toBeUndefined()
  })

  it('--json (showMove) carries the mark and the voters it names with their dirs', async () => {
    const ctx = makeServiceContext(new MemoryStore(), {cluster: 'voters-mark'})
    await initCluster(ctx, {shards: 1, rf: 1, nodes: parseNodeSpecs('n1=127.0.0.1:7101'), force: false})
    await ctx.store.put(ctx.keys.move(marked.id), JSON.stringify(marked))
    expect(await showMove(ctx, 'p-0')).toMatchObject({abandonVotersRequested: 'T1', abandonVotersDirs: {n3: 'dir-3/i1', n2: null}})
  })
})
