import {afterEach, describe, expect, it, vi} from 'vitest'
import {stopWithin} from '../../src/daemon/stopWithin.js'
import {EXIT_LINGER_MS, exitAfterStop} from '../../src/daemon/exitAfterStop.js'

afterEach(() => {
  vi.useRealTimers()
})

describe('stopWithin', () => {
  it('Given a loop that winds down after the signal, Then it resolves when the loop ends, without giving up', async () => {
    let signal: () => void = () => {}
    const signalled = new Promise<void>((r) => (signal = r))
    let end: () => void = () => {}
    const loop = new Promise<void>((r) => (end = r))
    const gaveUp = vi.fn()
    const stopped = stopWithin(loop, signalled, 1000, gaveUp)
    signal()
    end()
    await stopped
    expect(gaveUp).not.toHaveBeenCalled()
  })

  it('Given a loop stuck on an etcd that does not answer, When the signal came, Then it resolves `ms` later, having said so', async () => {
    vi.useFakeTimers()
    const gaveUp = vi.fn()
    let stopped = false
    void stopWithin(new Promise<void>(() => {}), Promise.resolve(), 1000, gaveUp).then(() => (stopped = true))
    await vi.advanceTimersByTimeAsync(999)
    expect(stopped).toBe(false)
    await vi.advanceTimersByTimeAsync(1)
    expect(stopped).toBe(true)
    expect(gaveUp).toHaveBeenCalledOnce()
  })

  it('Given a loop that does not end, When it gives up, Then it resolves only once the give-up (a bounded release of the locks) is done', async () => {
    vi.useFakeTimers()
    let released: () => void = () => {}
    let stopped = false
    void stopWithin(new Promise<void>(() => {}), Promise.resolve(), 1000, () => new Promise<void>((r) => (released = r))).then(() => (stopped = true))
    await vi.advanceTimersByTimeAsync(5000)
    expect(stopped).toBe(false)
    released()
    await vi.advanceTimersByTimeAsync(0)
    expect(stopped).toBe(true)
  })

  it('Given a loop that fails before any signal, Then its error', async () => {
    await expect(stopWithin(Promise.reject(new Error('etcd refused')), new Promise(() => {}), 1000, () => {})).rejects.toThrow('etcd refused')
  })
})

describe('exitAfterStop', () => {
  it('ends the process EXIT_LINGER_MS after the stop (unless it ended by itself: the timer is unref)', async () => {
    vi.useFakeTimers()
    const exit = vi.fn()
    exitAfterStop(exit)
    await vi.advanceTimersByTimeAsync(EXIT_LINGER_MS - 1)
    expect(exit).not.toHaveBeenCalled()
    await vi.advanceTimersByTimeAsync(1)
    expect(exit).toHaveBeenCalledOnce()
  })
})
