/**
 * DueItem is what a {@link DueHeap} orders: by `due`, then by `seq` (so equal due times
 * keep a stable order). `slot` is the heap's own bookkeeping (the item's index in it, or
 * -1 when it is in no heap); only the heap writes it.
 */
export interface DueItem {
  due: number
  seq: number
  slot: number
}

/**
 * DueHeap is a binary min-heap of items by (due, seq) that tracks each item's index, so an
 * item can be removed from anywhere in O(log n) without a scan and without leaving a stale
 * copy behind (no lazy deletion: `size` is exactly the items held).
 *
 * An item is in at most one heap at a time and must not change `due` or `seq` while held.
 */
export class DueHeap<T extends DueItem> {
  private readonly items: T[] = []

  /** size is the number of items held. */
  get size(): number {
    return this.items.length
  }

  /** peek returns the item with the smallest (due, seq), or undefined when empty; O(1). */
  peek(): T | undefined {
    return this.items[0]
  }

  /**
   * dueBy returns every held item with `due <= at`, in no particular order, and leaves them
   * held: O(k) for k items returned (they are the heap's top subtree), whatever the size.
   * Past `max` items it stops looking and returns undefined (O(max)).
   */
  dueBy(at: number, max = Infinity): T[] | undefined {
    const items = this.items
    const out: T[] = []
    const stack: number[] = items.length > 0 ? [0] : []
    for (let i = stack.pop(); i !== undefined; i = stack.pop()) {
      const it = items[i]!
      if (it.due > at) continue
      if (out.length >= max) return undefined
      out.push(it)
      const l = 2 * i + 1
      if (l < items.length) stack.push(l)
      if (l + 1 < items.length) stack.push(l + 1)
    }
    return out
  }

  /** push adds `item` (which must not be held by any heap); O(log n). */
  push(item: T): void {
    item.slot = this.items.length
    this.items.push(item)
    this.up(item.slot)
  }

  /** pop removes and returns the item with the smallest (due, seq), or undefined when empty; O(log n). */
  pop(): T | undefined {
    const top = this.items[0]
    if (top) this.removeAt(0)
    return top
  }

  /** remove takes `item` out wherever it sits; returns false (and does nothing) when this heap does not hold it. O(log n). */
  remove(item: T): boolean {
    if (item.slot < 0 || this.items[item.slot] !== item) return false
    this.removeAt(item.slot)
    return true
  }

  /** clear empties the heap (every item's slot becomes -1). */
  clear(): void {
    for (const it of this.items) it.slot = -1
    this.items.length = 0
  }

  private removeAt(i: number): void {
    const gone = this.items[i]!
    const last = this.items.pop()!
    gone.slot = -1
    if (last === gone) return
    this.items[i] = last
    last.slot = i
    // The moved-in last item may belong above or below slot i.
    if (!this.up(i)) this.down(i)
  }

  /** up sifts the item at `i` toward the root; returns whether it moved. */
  private up(i: number): boolean {
    const items = this.items
    const it = items[i]!
    const start = i
    while (i > 0) {
      const p = (i - 1) >> 1
      const parent = items[p]!
      if (!before(it, parent)) break
      items[i] = parent
      parent.slot = i
      i = p
    }
    items[i] = it
    it.slot = i
    return i !== start
  }

  private down(i: number): void {
    const items = this.items
    const n = items.length
    const it = items[i]!
    for (;;) {
      const l = 2 * i + 1
      if (l >= n) break
      const r = l + 1
      const c = r < n && before(items[r]!, items[l]!) ? r : l
      const child = items[c]!
      if (!before(child, it)) break
      items[i] = child
      child.slot = i
      i = c
    }
    items[i] = it
    it.slot = i
  }
}

/** before tells whether `a` comes out of the heap before `b`: by due time, then seq. */
function before(a: DueItem, b: DueItem): boolean {
  const d = a.due - b.due
  return d < 0 || (d === 0 && a.seq < b.seq)
}
