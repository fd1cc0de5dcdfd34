import {afterEach, describe, expect, it, vi} from 'vitest'
import {initialTopState} from '../../src/tui/topState.js'
import {TopStore} from '../../src/tui/topStore.js'
import {KEYS, T0} from './fixtures.js'

describe('TopStore', () => {
  afterEach(() => vi.useRealTimers())

  it('Given a burst of 500 actions in one second, When listeners are notified, Then at most 10 notifications happen and the last state is complete', () => {
    vi.useFakeTimers()
    const store = new TopStore(KEYS, initialTopState('demo', 'e', T0), 100, () => Date.now())
    const seen: number[] = []
    store.subscribe(() => seen.push(store.getState().log.length))
    for (let i = 0; i < 500; i++) {
      store.dispatch({type: 'notice', at: T0 + i, level: 'info', text: `n${i}`})
      vi.advanceTimersByTime(2)
    }
    vi.advanceTimersByTime(200)
    expect(seen.length).toBeLessThanOrEqual(11)
    expect(seen.at(-1)).toBe(200)
  })

  it('Given no change, When an action reduces to the same state, Then nobody is notified', () => {
    vi.useFakeTimers()
    const store = new TopStore(KEYS, initialTopState('demo', 'e', T0), 100, () => Date.now())
    const fn = vi.fn()
    store.subscribe(fn)
    store.dispatch({type: 'dismissCancel'})
    vi.advanceTimersByTime(500)
    expect(fn).not.toHaveBeenCalled()
  })
})
