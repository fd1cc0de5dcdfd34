import {describe, expect, it} from 'vitest'
import {boundedWait} from '../../src/clock/boundedWait.js'

describe('boundedWait', () => {
  it('Given work that settles in time, Then its value, or its error', async () => {
    expect(await boundedWait(Promise.resolve(7), 1000)).toEqual({done: true, value: 7})
    await expect(boundedWait(Promise.reject(new Error('etcd down')), 1000)).rejects.toThrow('etcd down')
  })

  it('Given work that never settles, Then not done once the time passes', async () => {
    expect(await boundedWait(new Promise(() => {}), 5)).toEqual({done: false})
  })

  it('Given work that rejects after the time passed, Then the rejection is handled (no unhandled rejection)', async () => {
    let fail: (e: Error) => void = () => {}
    const work = new Promise<void>((_, reject) => (fail = reject))
    expect(await boundedWait(work, 1)).toEqual({done: false})
    const unhandled: unknown[] = []
    const onUnhandled = (e: unknown) => unhandled.push(e)
    process.on('unhandledRejection', onUnhandled)
    try {
      fail(new Error('late'))
      await new Promise((r) => setTimeout(r, 20))
    } finally {
      process.off('unhandledRejection', onUnhandled)
    }
    expect(unhandled).toEqual([])
  })

  it('Given a bound longer than a Node timer can wait (2^31 ms and more), When the work settles a few ms later, Then it is done (the bound does not fire after 1 ms)', async () => {
    const work = new Promise<string>((r) => setTimeout(() => r('read'), 20))
    expect(await boundedWait(work, 2 ** 31)).toEqual({done: true, value: 'read'})
    expect(await boundedWait(new Promise<number>((r) => setTimeout(() => r(1), 20)), 30 * 24 * 3600 * 1000)).toEqual({done: true, value: 1})
  })
})
