import {describe, expect, it} from 'vitest'
import {makeServiceContext} from '../../src/cluster/serviceContext.js'
import {answerUnlessCancelled} from '../../src/executor/moveCancelLook.js'
import {MemoryStore} from '../../src/store/memoryStore.js'
import {moveOf} from './fixtures.js'

const ctx = makeServiceContext(new MemoryStore(), {cluster: 'c'}, () => new Date(0))
const move = moveOf({id: 'm1', shard: 0, from: 'a', to: 'b'})

/** hanging is a request a frozen node never answers: it ends only when its signal aborts. */
const hanging = (seen: {aborted: boolean}) => (signal: AbortSignal) =>
  new Promise<never>((_, reject) => signal.addEventListener('abort', () => {
    seen.aborted = true
    reject(new Error('aborted'))
  }))

describe('answerUnlessCancelled: a request a node leaves unanswered gives way to a cancel or a stop', () => {
  it('Given an answer at once, Then it is the answer and the move is never read', async () => {
    await ctx.store.put(ctx.keys.move('m1'), JSON.stringify({...move, cancelRequested: true}))
    expect(await answerUnlessCancelled({ctx, stopped: () => false}, 'm1', async () => 7)).toEqual({ended: 'answered', value: 7})
  })

  it('Given a request that never answers and a cancel recorded, Then the request is aborted and the move as read is returned', async () => {
    await ctx.store.put(ctx.keys.move('m1'), JSON.stringify({...move, cancelRequested: true}))
    const seen = {aborted: false}
    const r = await answerUnlessCancelled({ctx, stopped: () => false}, 'm1', hanging(seen))
    expect(r.ended).toBe('cancelled')
    expect(r.ended === 'cancelled' && r.move.value.cancelRequested).toBe(true)
    expect(seen.aborted).toBe(true)
  })

  it('Given a request that never answers and the executor stopping, Then it ends stopped', async () => {
    await ctx.store.put(ctx.keys.move('m1'), JSON.stringify(move))
    const seen = {aborted: false}
    expect(await answerUnlessCancelled({ctx, stopped: () => true}, 'm1', hanging(seen))).toEqual({ended: 'stopped'})
    expect(seen.aborted).toBe(true)
  })

  it('Given a request that fails, Then its error is thrown', async () => {
    await expect(answerUnlessCancelled({ctx, stopped: () => false}, 'm1', async () => Promise.reject(new Error('refused')))).rejects.toThrow('refused')
  })
})
