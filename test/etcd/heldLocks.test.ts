import {afterEach, describe, expect, it, vi} from 'vitest'
import {HeldLocks} from '../../src/etcd/heldLocks.js'
import {type HeldLock} from '../../src/etcd/leaseLock.js'

afterEach(() => {
  vi.useRealTimers()
})

function fakeLock(release: () => Promise<void>): HeldLock {
  return {release: vi.fn(release)} as unknown as HeldLock
}

describe('HeldLocks', () => {
  it('Given two tracked locks, one released by its holder, When releaseAll runs, Then only the other is released', async () => {
    const held = new HeldLocks()
    const a = fakeLock(async () => {})
    const b = fakeLock(async () => {})
    held.track(a)
    const untrackB = held.track(b)
    untrackB()
    expect(held.size).toBe(1)
    await held.releaseAll(1000)
    expect(a.release).toHaveBeenCalledOnce()
    expect(b.release).not.toHaveBeenCalled()
    expect(held.size).toBe(0)
  })

  it('Given a release etcd never answers and one that fails, When releaseAll runs, Then it resolves after its bound, having asked both', async () => {
    vi.useFakeTimers()
    const held = new HeldLocks()
    const stuck = fakeLock(() => new Promise<void>(() => {}))
    const failing = fakeLock(async () => {
      throw new Error('etcd refused')
    })
    held.track(stuck)
    held.track(failing)
    let done = false
    void held.releaseAll(2000).then(() => (done = true))
    await vi.advanceTimersByTimeAsync(1999)
    expect(done).toBe(false)
    await vi.advanceTimersByTimeAsync(1)
    expect(done).toBe(true)
    expect(stuck.release).toHaveBeenCalledOnce()
    expect(failing.release).toHaveBeenCalledOnce()
  })
})
