import {describe, expect, it} from 'vitest'
import {FencedWrites} from '../../src/node/fencedWrites.js'

describe('FencedWrites', () => {
  it('waits for the writes admitted at an older epoch, not for newer ones or other shards, and only for those admitted before the call', async () => {
    const w = new FencedWrites()
    const old1 = w.admit(0, 3)
    const old2 = w.admit(0, 4)
    w.admit(0, 5) // at the accepted epoch: not waited for
    w.admit(1, 3) // another shard
    expect(w.pendingBefore(0, 5)).toBe(2)
    let settled: boolean | undefined
    const p = w.olderSettled(0, 5, 10_000).then((ok) => (settled = ok))
    const late = w.admit(0, 4) // admitted after the call (its fence check would now refuse it)
    old1()
    await new Promise((r) => setTimeout(r, 20))
    expect(settled).toBeUndefined() // old2 still open
    old2()
    await p
    expect(settled).toBe(true)
    expect(w.pendingBefore(0, 5)).toBe(1) // `late`
    late()
    expect(w.pendingBefore(0, 5)).toBe(0)
  })

  it('gives up after waitMs with false, and answers true at once with nothing older open', async () => {
    const w = new FencedWrites()
    expect(await w.olderSettled(0, 9, 10_000)).toBe(true)
    const finish = w.admit(0, 8)
    const t0 = Date.now()
    expect(await w.olderSettled(0, 9, 50)).toBe(false)
    expect(Date.now() - t0).toBeGreaterThanOrEqual(45)
    finish()
    finish() // finishing twice is harmless
    expect(await w.olderSettled(0, 9, 50)).toBe(true)
  })
})
