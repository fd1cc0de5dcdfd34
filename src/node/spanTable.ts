import {HASH_SPACE} from '../model/hash.js'
import {type HashRange} from '../model/range.js'

/**
 * StoreSpan names the range store file (`ranges/<store>.sqlite`, see rangeStoreFiles.ts)
 * that serves every hash of [lo, hi). A hash no span holds is served by the node's main file.
 */
export interface StoreSpan {
  lo: number
  hi: number
  store: string
}

/**
 * SpanPart is one piece of a range cut by {@link SpanTable.parts}: [lo, hi) is served by
 * range store `store`, or by the main file when `store` is absent.
 */
export interface SpanPart {
  lo: number
  hi: number
  store?: string
}

/** STORE_ID matches a range store's id: a lower-case UUID, which is also its file's name (no path can hide in it). */
const STORE_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

/** isStoreId tells whether `id` is a well-formed range store id (see STORE_ID). */
export function isStoreId(id: string): boolean {
  return STORE_ID.test(id)
}

/**
 * SpanTable is which store serves which hash (issue 12, stage 1: src/node/README.md, "A file
 * per large range"): a set of disjoint spans, each naming the one range store file that holds
 * exactly its rows; every hash outside them is the main file's. So every h is served by
 * exactly one store. Immutable: {@link with} and {@link without} return a new table, so the
 * engine swaps its table in one assignment, in the turn the main file's transaction that
 * recorded the change committed.
 *
 * An empty table is the single-store engine: callers test {@link isEmpty} and keep today's
 * code paths (no lookup per key).
 */
export class SpanTable {
  /** EMPTY is the table of a node whose every range is in the main file. */
  static readonly EMPTY = new SpanTable([])

  /** spans are sorted by lo, disjoint, one per store. */
  private constructor(private readonly sorted: readonly StoreSpan[]) {}

  /**
   * from builds a table of `spans` (any order). Throws RangeError naming the first problem:
   * a bound that is not an integer in [0, HASH_SPACE], an empty span, a malformed store id,
   * a store named twice (a store holds exactly one span), or two spans that overlap.
   */
  static from(spans: readonly StoreSpan[]): SpanTable {
    const sorted = spans.map((s) => ({lo: s.lo, hi: s.hi, store: s.store})).sort((a, b) => a.lo - b.lo)
    const stores = new Set<string>()
    for (let i = 0; i < sorted.length; i++) {
      const s = sorted[i]!
      if (!Number.isInteger(s.lo) || !Number.isInteger(s.hi) || s.lo < 0 || s.hi > HASH_SPACE || s.lo >= s.hi) throw new RangeError(`range store ${s.store}: span [${s.lo}, ${s.hi}) is not a non-empty range of the hash space [0, ${HASH_SPACE})`)
      if (!isStoreId(s.store)) throw new RangeError(`range store id ${JSON.stringify(s.store)} is not a lower-case UUID`)
      if (stores.has(s.store)) throw new RangeError(`range store ${s.store} is named for two spans: a store holds exactly one`)
      stores.add(s.store)
      const prev = sorted[i - 1]
      if (prev && prev.hi > s.lo) throw new RangeError(`range stores ${prev.store} [${prev.lo}, ${prev.hi}) and ${s.store} [${s.lo}, ${s.hi}) overlap: every hash is served by exactly one store`)
    }
    return sorted.length === 0 ? SpanTable.EMPTY : new SpanTable(sorted)
  }

  /** isEmpty: no range store; the main file serves every hash. */
  get isEmpty(): boolean {
    return this.sorted.length === 0
  }

  /** spans lists the table's spans, sorted by lo. */
  spans(): readonly StoreSpan[] {
    return this.sorted
  }

  /** spanOf is the span of range store `store`, or undefined when the table has no such store. */
  spanOf(store: string): StoreSpan | undefined {
    return this.sorted.find((s) => s.store === store)
  }

  /** storeOf names the range store serving hash `h`, or undefined when the main file serves it. O(log spans). */
  storeOf(h: number): string | undefined {
    let lo = 0
    let hi = this.sorted.length - 1
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1
      const s = this.sorted[mid]!
      if (h < s.lo) hi = mid - 1
      else if (h >= s.hi) lo = mid + 1
      else return s.store
    }
    return undefined
  }

  /**
   * parts cuts `range` at the spans' edges into the pieces each store serves, in hash order,
   * covering `range` exactly (main-file pieces have no `store`); [] for an empty range. A
   * read of a range (scan, copy page, digest, totals) or a write to one (purge, drop) runs
   * per part and combines.
   */
  parts(range: HashRange): SpanPart[] {
    if (range.lo >= range.hi) return []
    const out: SpanPart[] = []
    let at = range.lo
    for (const s of this.sorted) {
      if (s.hi <= at) continue
      if (s.lo >= range.hi) break
      if (s.lo > at) out.push({lo: at, hi: s.lo})
      const hi = Math.min(s.hi, range.hi)
      out.push({lo: Math.max(s.lo, at), hi, store: s.store})
      at = hi
      if (at >= range.hi) break
    }
    if (at < range.hi) out.push({lo: at, hi: range.hi})
    return out
  }

  /** with returns this table plus `span`. Throws RangeError (see {@link from}) when it overlaps a span or names a store already there. */
  with(span: StoreSpan): SpanTable {
    return SpanTable.from([...this.sorted, span])
  }

  /** without returns this table minus range store `store` (its span goes back to the main file); the same table when it has no such store. */
  without(store: string): SpanTable {
    if (!this.spanOf(store)) return this
    const rest = this.sorted.filter((s) => s.store !== store)
    return rest.length === 0 ? SpanTable.EMPTY : new SpanTable(rest)
  }
}
