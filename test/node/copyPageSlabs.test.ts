import {describe, expect, it} from 'vitest'
import {SlabLender, slabAllocator, slabCount} from '../../src/node/copyPageSlabs.js'

describe('SlabLender', () => {
  it('lends each slab once until it comes back, and says so when all are out', () => {
    const lender = new SlabLender(3, 1024)
    const lent = [lender.lend(), lender.lend(), lender.lend()]
    expect(new Set(lent).size).toBe(3)
    expect(lender.lend()).toBeUndefined()
    lender.giveBack(lent[1]!)
    expect(lender.lend()).toBe(lent[1])
  })

  it('frees a page slab on its first release only: a second call cannot hand the slab out twice', () => {
    const lender = new SlabLender(2, 1024)
    const slab = lender.lend()!
    const {batch, release} = lender.page(slab, 10)
    expect(batch.length).toBe(10)
    expect(lender.available()).toBe(1)
    release()
    release()
    expect(lender.available()).toBe(2)
    const a = lender.lend()
    const b = lender.lend()
    expect(a).not.toBe(b)
    expect(lender.lend()).toBeUndefined()
  })

  it('gives a view on the slab itself: bytes written there by the other side are what the page holds', () => {
    const lender = new SlabLender(1, 64)
    const slab = lender.lend()!
    const into = slabAllocator(lender.slabs[slab])
    into.alloc(5).write('hello')
    expect(into.used()).toBe(true)
    expect(lender.page(slab, 5).batch.toString()).toBe('hello')
  })
})

describe('slabAllocator', () => {
  it('writes a page that fits into the slab, and a larger one (or one with no slab) into a buffer of its own', () => {
    const slab = new SharedArrayBuffer(16)
    const fits = slabAllocator(slab)
    expect(fits.alloc(16).buffer).toBe(slab)
    expect(fits.used()).toBe(true)
    const over = slabAllocator(slab)
    const own = over.alloc(17)
    expect(over.used()).toBe(false)
    expect(own.buffer).toBeInstanceOf(ArrayBuffer)
    expect(own.buffer.byteLength).toBe(17) // unpooled: transferable whole
    const none = slabAllocator(undefined)
    expect(none.alloc(1).buffer.byteLength).toBe(1)
    expect(none.used()).toBe(false)
  })
})

describe('slabCount (SHARDCTL_COPY_PAGE_SLABS)', () => {
  it('takes a whole number from 0 to 64 and falls back to 8 for anything else', () => {
    expect(slabCount('0')).toBe(0)
    expect(slabCount(' 16 ')).toBe(16)
    expect(slabCount(undefined)).toBe(8)
    for (const bad of ['', 'many', '-1', '2.5', '65']) expect(slabCount(bad)).toBe(8)
  })

  it('with no slabs, lends none: every page gets a buffer of its own', () => {
    expect(new SlabLender(0, 1024).lend()).toBeUndefined()
  })
})
