import {describe, expect, it} from 'vitest'
import {NodeThrottles, spend} from '../../src/node/nodeThrottles.js'

describe('NodeThrottles', () => {
  it('starts unlimited, changes one rate without touching the other, and a later spend waits at the new rate', async () => {
    let t = 0
    const th = new NodeThrottles(() => t)
    expect(th.rates()).toEqual({send: null, receive: null})
    th.set({send: 1000})
    expect(th.rates()).toEqual({send: 1000, receive: null})
    th.set({receive: 500})
    expect(th.rates()).toEqual({send: 1000, receive: 500})
    const slept: number[] = []
    const sleep = async (ms: number) => {
      slept.push(ms)
      t += ms
    }
    // A rate set on an unlimited bucket starts it empty (no free burst), then holds 500 B/s.
    expect(await spend([th.receive], 500, sleep)).toBe(true)
    expect(slept.reduce((a, b) => a + b, 0)).toBe(1000)
    expect(await spend([th.receive], 1000, sleep)).toBe(true)
    expect(slept.reduce((a, b) => a + b, 0)).toBe(3000)
    th.set({receive: null})
    slept.length = 0
    expect(await spend([th.receive], 10_000_000, sleep)).toBe(true)
    expect(slept).toEqual([])
  })

  it('sleeps in short steps and stops as soon as the copy is cancelled', async () => {
    let t = 0
    const th = new NodeThrottles(() => t, {send: 100, receive: null})
    const ac = new AbortController()
    const slept: number[] = []
    const ok = await spend([th.send], 100 + 100 * 60, async (ms) => {
      slept.push(ms)
      t += ms
      if (slept.length === 3) ac.abort()
    }, ac.signal)
    expect(ok).toBe(false)
    expect(slept).toEqual([200, 200, 200])
  })

  it('waits for the tightest of several buckets', async () => {
    let t = 0
    const a = new NodeThrottles(() => t, {send: 1000, receive: null})
    const b = new NodeThrottles(() => t, {send: null, receive: 250})
    let total = 0
    // Both start empty (no head start): 1000 B take 1 s at 1000 B/s and 4 s at 250 B/s.
    await spend([a.send, b.receive], 1000, async (ms) => {
      total += ms
      t += ms
    })
    expect(total).toBe(4000)
  })

  it('given a copy already cancelled, when it spends, then it takes no bytes from the shared buckets (other streams keep their share)', async () => {
    let t = 0
    const th = new NodeThrottles(() => t, {send: 1000, receive: null})
    const ac = new AbortController()
    ac.abort()
    expect(await spend([th.send], 500, async () => {}, ac.signal)).toBe(false)
    const slept: number[] = []
    // The next stream's 1000 B wait 1 s at 1000 B/s, not 1.5 s behind the cancelled stream's 500.
    expect(await spend([th.send], 1000, async (ms) => {
      slept.push(ms)
      t += ms
    })).toBe(true)
    expect(slept.reduce((a, b) => a + b, 0)).toBe(1000)
  })
})
