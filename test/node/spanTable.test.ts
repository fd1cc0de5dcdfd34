import fc from 'fast-check'
import {describe, expect, it} from 'vitest'
import {HASH_SPACE} from '../../src/model/hash.js'
import {SpanTable, type StoreSpan} from '../../src/node/spanTable.js'

const A = '00000000-0000-4000-8000-00000000000a'
const B = '00000000-0000-4000-8000-00000000000b'
const C = '00000000-0000-4000-8000-00000000000c'

/** disjointSpans draws up to 6 disjoint spans with distinct store ids (cut points sorted, every other gap a span). */
const disjointSpans = fc
  .uniqueArray(fc.integer({min: 0, max: HASH_SPACE}), {minLength: 0, maxLength: 12})
  .chain((cuts) => {
    const sorted = [...cuts].sort((a, b) => a - b)
    const spans: StoreSpan[] = []
    for (let i = 0; i + 1 < sorted.length; i += 2) spans.push({lo: sorted[i]!, hi: sorted[i + 1]!, store: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`})
    return fc.shuffledSubarray(spans, {minLength: spans.length, maxLength: spans.length})
  })

describe('SpanTable', () => {
  it('given no spans, when asked, then the main file serves every hash and a range is one main part', () => {
    const t = SpanTable.from([])
    expect(t.isEmpty).toBe(true)
    expect(t).toBe(SpanTable.EMPTY)
    expect(t.storeOf(0)).toBeUndefined()
    expect(t.storeOf(HASH_SPACE - 1)).toBeUndefined()
    expect(t.parts({lo: 5, hi: 10})).toEqual([{lo: 5, hi: 10}])
    expect(t.parts({lo: 5, hi: 5})).toEqual([])
  })

  it('given two spans, when a range crosses them, then parts cut it at their edges in hash order', () => {
    const t = SpanTable.from([
      {lo: 200, hi: 300, store: B},
      {lo: 100, hi: 150, store: A},
    ])
    expect(t.spans().map((s) => s.store)).toEqual([A, B])
    expect(t.parts({lo: 0, hi: 1000})).toEqual([{lo: 0, hi: 100}, {lo: 100, hi: 150, store: A}, {lo: 150, hi: 200}, {lo: 200, hi: 300, store: B}, {lo: 300, hi: 1000}])
    expect(t.parts({lo: 120, hi: 250})).toEqual([{lo: 120, hi: 150, store: A}, {lo: 150, hi: 200}, {lo: 200, hi: 250, store: B}])
    expect(t.parts({lo: 210, hi: 220})).toEqual([{lo: 210, hi: 220, store: B}])
    expect(t.parts({lo: 150, hi: 200})).toEqual([{lo: 150, hi: 200}])
    expect(t.storeOf(99)).toBeUndefined()
    expect(t.storeOf(100)).toBe(A)
    expect(t.storeOf(149)).toBe(A)
    expect(t.storeOf(150)).toBeUndefined()
    expect(t.storeOf(299)).toBe(B)
    expect(t.storeOf(300)).toBeUndefined()
  })

  it('given bad spans, when a table is built, then a RangeError names the problem', () => {
    expect(() => SpanTable.from([{lo: 5, hi: 5, store: A}])).toThrow(/not a non-empty range/)
    expect(() => SpanTable.from([{lo: 0, hi: HASH_SPACE + 1, store: A}])).toThrow(/not a non-empty range/)
    expect(() => SpanTable.from([{lo: 0.5, hi: 9, store: A}])).toThrow(/not a non-empty range/)
    expect(() => SpanTable.from([{lo: 0, hi: 9, store: '../main'}])).toThrow(/not a lower-case UUID/)
    expect(() => SpanTable.from([{lo: 0, hi: 9, store: A.toUpperCase()}])).toThrow(/not a lower-case UUID/)
    expect(() => SpanTable.from([{lo: 0, hi: 9, store: A}, {lo: 20, hi: 29, store: A}])).toThrow(/named for two spans/)
    expect(() => SpanTable.from([{lo: 0, hi: 10, store: A}, {lo: 9, hi: 29, store: B}])).toThrow(/overlap/)
    expect(() => SpanTable.from([{lo: 0, hi: 10, store: A}]).with({lo: 5, hi: 6, store: B})).toThrow(/overlap/)
  })

  it('given a table, when a store is added and removed, then the original is unchanged and without() restores it', () => {
    const t = SpanTable.from([{lo: 0, hi: 10, store: A}])
    const t2 = t.with({lo: 10, hi: 20, store: B})
    expect(t.spans()).toHaveLength(1)
    expect(t2.storeOf(15)).toBe(B)
    expect(t2.without(B).spans()).toEqual(t.spans())
    expect(t2.without(C)).toBe(t2)
    expect(t.without(A)).toBe(SpanTable.EMPTY)
    expect(t2.spanOf(B)).toEqual({lo: 10, hi: 20, store: B})
  })

  it('given any disjoint spans and any range, when cut, then the parts tile the range and each hash part agrees with storeOf', () => {
    fc.assert(
      fc.property(disjointSpans, fc.integer({min: 0, max: HASH_SPACE}), fc.integer({min: 0, max: HASH_SPACE}), fc.integer({min: 0, max: HASH_SPACE - 1}), (spans, a, b, h) => {
        const t = SpanTable.from(spans)
        const range = {lo: Math.min(a, b), hi: Math.max(a, b)}
        const parts = t.parts(range)
        let at = range.lo
        for (const p of parts) {
          if (p.lo !== at || p.hi <= p.lo) return false
          // Each end of the part is served by the part's store.
          if (t.storeOf(p.lo) !== p.store || t.storeOf(p.hi - 1) !== p.store) return false
          at = p.hi
        }
        if (at !== range.hi && range.lo < range.hi) return false
        // Neighbouring main parts are never split (a main part ends only at a span's edge).
        for (let i = 1; i < parts.length; i++) if (parts[i]!.store === undefined && parts[i - 1]!.store === undefined) return false
        // storeOf by binary search equals a linear look-up.
        const linear = spans.find((s) => h >= s.lo && h < s.hi)?.store
        return t.storeOf(h) === linear
      }),
    )
  })
})
