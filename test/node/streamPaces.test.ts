import {describe, expect, it} from 'vitest'
import {StreamPaces} from '../../src/node/streamPaces.js'

describe('StreamPaces', () => {
  it('gives each stream a bucket at its rate that starts empty, and changes the rate of every open stream of the shard and move only', () => {
    let t = 0
    const paces = new StreamPaces(() => t)
    const a = paces.open(1, {move: 'm1', rate: 1000})
    const b = paces.open(1, {move: 'm1', rate: 1000}) // the same move re-opened (a resume) while the old stream winds down
    const other = paces.open(1, {move: 'm2', rate: 1000})
    const shard2 = paces.open(2, {move: 'm1', rate: 1000})
    expect(a.bucket.take(500)).toBe(500) // empty at the start: 500 B at 1000 B/s wait 500 ms
    expect(paces.setRate(1, 'm1', 4000)).toBe(2)
    expect([a, b, other, shard2].map((s) => s.bucket.currentRate())).toEqual([4000, 4000, 1000, 1000])
    t += 1000
    a.close()
    expect(paces.setRate(1, 'm1', null)).toBe(1)
    expect(b.bucket.take(1_000_000)).toBe(0)
    b.close()
    b.close() // closing twice is harmless
    expect(paces.setRate(1, 'm1', 10)).toBe(0)
    expect(paces.streams()).toBe(2)
    other.close()
    shard2.close()
    expect(paces.streams()).toBe(0)
  })

  it('re-rates only the stream a change names: the one it replaces, still open, neither takes it nor answers for it', () => {
    const paces = new StreamPaces(() => 0)
    const old = paces.open(1, {move: 'm1', rate: 1000, stream: 'old'})
    expect(paces.setRate(1, 'm1', 5000, 'new')).toBe(0) // not open yet: told again later
    expect(old.bucket.currentRate()).toBe(1000)
    const fresh = paces.open(1, {move: 'm1', rate: 1000, stream: 'new'})
    expect(paces.setRate(1, 'm1', 5000, 'new')).toBe(1)
    expect([old, fresh].map((s) => s.bucket.currentRate())).toEqual([1000, 5000])
    expect(paces.setRate(1, 'm1', null)).toBe(2) // unnamed: every stream of the move
    old.close()
    fresh.close()
    expect(paces.streams()).toBe(0)
  })
})
