import {describe, expect, it} from 'vitest'
import {seededRandom} from '../../bench/seededRandom.js'
import {DueHeap, type DueItem} from '../../src/router/dueHeap.js'

interface Item extends DueItem {
  name: string
}

const item = (due: number, seq: number): Item => ({due, seq, slot: -1, name: `${due}/${seq}`})
const order = (a: Item, b: Item) => a.due - b.due || a.seq - b.seq

/** Counted is an item whose `due` reads are counted: every comparison the heap makes reads it. */
class Counted implements DueItem {
  static reads = 0
  seq: number
  slot = -1
  constructor(
    private readonly at: number,
    seq: number,
  ) {
    this.seq = seq
  }
  get due(): number {
    Counted.reads++
    return this.at
  }
}

describe('DueHeap', () => {
  it('Given random pushes and removals, Then it pops in (due, seq) order and holds exactly what a sorted list holds', () => {
    for (let seed = 1; seed <= 20; seed++) {
      const random = seededRandom(seed)
      const heap = new DueHeap<Item>()
      let model: Item[] = []
      let seq = 0
      for (let op = 0; op < 600; op++) {
        const r = random()
        if (r < 0.5) {
          const it = item(Math.floor(random() * 50), ++seq)
          heap.push(it)
          model.push(it)
        } else if (r < 0.75) {
          model.sort(order)
          expect(heap.pop()).toBe(model.shift())
        } else if (model.length > 0) {
          const it = model[Math.floor(random() * model.length)]!
          expect(heap.remove(it)).toBe(true)
          expect(it.slot).toBe(-1)
          expect(heap.remove(it)).toBe(false) // removing what it no longer holds changes nothing
          model = model.filter((m) => m !== it)
        }
        expect(heap.size).toBe(model.length)
        expect(heap.peek()).toBe([...model].sort(order)[0])
      }
      const drained: Item[] = []
      for (let it = heap.pop(); it; it = heap.pop()) drained.push(it)
      expect(drained).toEqual(model.sort(order))
    }
  })

  it('Given items due at different times, When asked what is due by a time, Then it returns exactly those and keeps holding them', () => {
    const heap = new DueHeap<Item>()
    const items = [5, 1, 9, 3, 3, 7, 2, 8].map((due, i) => item(due, i))
    for (const it of items) heap.push(it)
    expect(heap.dueBy(3)!.sort(order)).toEqual(items.filter((it) => it.due <= 3).sort(order))
    expect(heap.dueBy(0)).toEqual([])
    expect(heap.size).toBe(8)
    // Past `max` due items it gives up.
    expect(heap.dueBy(3, 3)).toBeUndefined()
    expect(heap.dueBy(3, 4)).toHaveLength(4)
    expect(new DueHeap<Item>().dueBy(10)).toEqual([])
  })

  it('Given a cleared heap, Then it holds nothing and its former items can be pushed again', () => {
    const heap = new DueHeap<Item>()
    const a = item(1, 1)
    heap.push(a)
    heap.push(item(2, 2))
    heap.clear()
    expect(heap.size).toBe(0)
    expect(a.slot).toBe(-1)
    expect(heap.remove(a)).toBe(false)
    heap.push(a)
    expect(heap.pop()).toBe(a)
  })

  it('Given 10,000 items, Then push, pop, remove and a one-item dueBy each compare O(log n) items, not n', () => {
    const n = 10_000
    const random = seededRandom(7)
    const heap = new DueHeap<Counted>()
    const items: Counted[] = []
    for (let i = 0; i < n; i++) {
      const it = new Counted(1000 + Math.floor(random() * 100_000), i)
      items.push(it)
      heap.push(it)
    }
    // Each comparison reads at most two `due`s; a sift goes at most log2(n) levels, down
    // compares two children per level.
    const bound = 4 * Math.ceil(Math.log2(n)) + 4
    const cost = (fn: () => void) => {
      Counted.reads = 0
      fn()
      return Counted.reads
    }
    const early = new Counted(1, n)
    expect(cost(() => heap.push(early))).toBeLessThanOrEqual(bound)
    let got: unknown
    expect(cost(() => (got = heap.dueBy(1)))).toBeLessThanOrEqual(3) // the top and its two children
    expect(got).toEqual([early])
    expect(cost(() => (got = heap.pop()))).toBeLessThanOrEqual(bound)
    expect(got).toBe(early)
    for (let i = 0; i < 100; i++) expect(cost(() => heap.remove(items[Math.floor(random() * n)]!))).toBeLessThanOrEqual(bound)
  })
})
