import {describe, expect, it} from 'vitest'
import {FencedWrites} from '../../src/node/fencedWrites.js'

const R = {lo: 0, hi: 100}

describe('FencedWrites', () => {
  it('waits for the writes admitted at an older epoch, not for newer ones or other shards, and only for those admitted before the call', async () => {
    const w = new FencedWrites()
    const old1 = w.admit(0, 3)
    const old2 = w.admit(0, 4)
    w.admit(0, 5).fencedTo(R) // at the accepted epoch: not waited for
    w.admit(1, 3).fencedTo({lo: 100, hi: 200}) // another shard, elsewhere
    expect(w.pendingBefore(0, 5, R)).toBe(2)
    let settled: boolean | undefined
    const p = w.olderSettled(0, 5, R, 10_000).then((ok) => (settled = ok))
    const late = w.admit(0, 4) // admitted after the call (its fence check would now refuse it)
    old1.finish()
    await new Promise((r) => setTimeout(r, 20))
    expect(settled).toBeUndefined() // old2 still open
    old2.finish()
    await p
    expect(settled).toBe(true)
    expect(w.pendingBefore(0, 5, R)).toBe(1) // `late`
    late.finish()
    expect(w.pendingBefore(0, 5, R)).toBe(0)
  })

  it('gives up after waitMs with false, and answers true at once with nothing older open', async () => {
    const w = new FencedWrites()
    expect(await w.olderSettled(0, 9, R, 10_000)).toBe(true)
    const write = w.admit(0, 8)
    expect(await w.olderSettled(0, 9, R, 50)).toBe(false)
    write.finish()
    write.finish() // finishing twice is harmless
    expect(await w.olderSettled(0, 9, R, 50)).toBe(true)
  })

  it('waits for a write of another shard (a split parent) fenced to a range overlapping the accepted one, at any epoch', async () => {
    const w = new FencedWrites()
    const parent = w.admit(7, 12) // fenced at the parent's epoch, before the split
    parent.fencedTo({lo: 0, hi: 200})
    // The upper half [100, 200) got a new id (8) and an epoch the parent never had.
    expect(w.pendingBefore(8, 14, {lo: 100, hi: 200})).toBe(1)
    expect(await w.olderSettled(8, 14, {lo: 100, hi: 200}, 50)).toBe(false)
    let settled: boolean | undefined
    const p = w.olderSettled(8, 14, {lo: 100, hi: 200}, 10_000).then((ok) => (settled = ok))
    await new Promise((r) => setTimeout(r, 20))
    expect(settled).toBeUndefined()
    parent.finish()
    expect(await p).toBe(true)
  })

  it('waits for a write of another shard still in its fence check until it is fenced elsewhere, or finished', async () => {
    const w = new FencedWrites()
    const elsewhere = w.admit(3, 1) // range not known yet
    const overlapping = w.admit(4, 1)
    expect(w.pendingBefore(8, 2, R)).toBe(2)
    let settled: boolean | undefined
    const p = w.olderSettled(8, 2, R, 10_000).then((ok) => (settled = ok))
    elsewhere.fencedTo({lo: 100, hi: 200}) // no overlap: no longer waited for, though still open
    overlapping.fencedTo({lo: 50, hi: 150})
    await new Promise((r) => setTimeout(r, 20))
    expect(settled).toBeUndefined() // the overlapping one is still open
    overlapping.finish()
    expect(await p).toBe(true)
    expect(w.pendingBefore(8, 2, R)).toBe(0)
    elsewhere.finish()
  })

  it('allSettled waits for every write open at the call, of any shard and epoch, and not for later ones', async () => {
    const w = new FencedWrites()
    const a = w.admit(1, 5)
    const b = w.admit(2, 9)
    b.fencedTo(R)
    expect(await w.allSettled(30)).toBe(false)
    const p = w.allSettled(10_000)
    w.admit(3, 1) // later: not waited for
    a.finish()
    b.finish()
    expect(await p).toBe(true)
  })
})
