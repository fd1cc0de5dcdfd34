import {FINE_COUNT, FINE_WIDTH, fineOf} from './digestLayout.js'
import {recordHash} from './recordHash.js'

/** FineCell is one fine bucket's digest: XOR of its records' 64-bit hashes (two halves), record count and bytes. */
export interface FineCell {
  xhi: number
  xlo: number
  n: number
  bytes: number
}

/**
 * CellChanges is the new content of the fine cells one transaction touched, flattened as
 * `[f, xhi, xlo, n, bytes]` per cell so it crosses a thread boundary as one typed array.
 */
export type CellChanges = Float64Array

/**
 * CellStage collects the cell updates of one transaction on top of a {@link DigestCells}
 * without changing it: {@link DigestCells.commit} makes them visible once the
 * transaction committed, and a rolled-back transaction just drops its stage.
 */
export class CellStage {
  private readonly touched = new Map<number, FineCell>()

  constructor(private readonly base: DigestCells) {}

  /** toggle XORs a record into (sign 1) or out of (sign -1) its fine cell, adjusting count and bytes. */
  toggle(h: number, key: Uint8Array, version: string, value: Uint8Array | null, bytes: number, sign: 1 | -1): void {
    const c = this.cell(fineOf(h))
    const [hi, lo] = recordHash(key, version, value)
    c.xhi = (c.xhi ^ hi) >>> 0
    c.xlo = (c.xlo ^ lo) >>> 0
    c.n += sign
    c.bytes += sign * bytes
  }

  /** clear empties fine cell `f` (every record in it was deleted). */
  clear(f: number): void {
    this.touched.set(f, {xhi: 0, xlo: 0, n: 0, bytes: 0})
  }

  /** entries lists the staged cells (to persist them inside the transaction). */
  entries(): IterableIterator<[number, FineCell]> {
    return this.touched.entries()
  }

  /** changes flattens the staged cells for {@link DigestCells.commit}. */
  changes(): CellChanges {
    const out = new Float64Array(this.touched.size * 5)
    let i = 0
    for (const [f, c] of this.touched) {
      out[i++] = f
      out[i++] = c.xhi
      out[i++] = c.xlo
      out[i++] = c.n
      out[i++] = c.bytes
    }
    return out
  }

  private cell(f: number): FineCell {
    let c = this.touched.get(f)
    if (!c) {
      c = this.base.cell(f)
      this.touched.set(f, c)
    }
    return c
  }
}

/**
 * DigestCells holds the 65,536 fine-bucket digest cells of a node in memory (the `fine`
 * table is their durable copy, written in the same transaction as the rows). The writer
 * thread keeps the authoritative instance (it stages, persists and commits every change);
 * the main thread keeps a cache it updates from each committed transaction's
 * {@link CellChanges} before it acknowledges the transaction's writes, so a digest asked
 * after an acknowledged write includes it.
 */
export class DigestCells {
  private readonly xhi = new Uint32Array(FINE_COUNT)
  private readonly xlo = new Uint32Array(FINE_COUNT)
  private readonly n = new Float64Array(FINE_COUNT)
  private readonly bytes = new Float64Array(FINE_COUNT)

  /** load sets cells from persisted rows (the `fine` table). */
  load(rows: Iterable<{f: number; xhi: number; xlo: number; n: number; bytes: number}>): void {
    for (const r of rows) this.set(r.f, r.xhi, r.xlo, r.n, r.bytes)
  }

  /** cell returns a copy of fine cell `f`. */
  cell(f: number): FineCell {
    return {xhi: this.xhi[f] ?? 0, xlo: this.xlo[f] ?? 0, n: this.n[f] ?? 0, bytes: this.bytes[f] ?? 0}
  }

  /** count is the number of records in fine cell `f`. */
  count(f: number): number {
    return this.n[f] ?? 0
  }

  /** stage starts collecting one transaction's changes (see {@link CellStage}). */
  stage(): CellStage {
    return new CellStage(this)
  }

  /** commit makes a committed transaction's cell changes visible. */
  commit(changes: CellChanges): void {
    for (let i = 0; i + 4 < changes.length; i += 5) this.set(changes[i] ?? 0, changes[i + 1] ?? 0, changes[i + 2] ?? 0, changes[i + 3] ?? 0, changes[i + 4] ?? 0)
  }

  /** totals sums records and bytes over fine cells `f0..f1` (inclusive), or all cells. */
  totals(f0 = 0, f1 = FINE_COUNT - 1): {keys: number; bytes: number} {
    let keys = 0
    let bytes = 0
    for (let f = f0; f <= f1; f++) {
      keys += this.n[f] ?? 0
      bytes += this.bytes[f] ?? 0
    }
    return {keys, bytes}
  }

  /**
   * xorWhole XORs the cells wholly inside [lo, hi) into `acc` and calls `partial` with the
   * [from, to) slivers of cells the range cuts (to be computed from rows), and with the
   * whole span of every cell in `stale` (cells whose cached content may lag the rows).
   */
  xorWhole(lo: number, hi: number, acc: FineCell, partial: (from: number, to: number) => void, stale?: ReadonlySet<number>): void {
    for (let f = fineOf(lo); f * FINE_WIDTH < hi; f++) {
      const fLo = f * FINE_WIDTH
      const fHi = fLo + FINE_WIDTH
      if (fLo >= lo && fHi <= hi && !stale?.has(f)) {
        acc.xhi = (acc.xhi ^ (this.xhi[f] ?? 0)) >>> 0
        acc.xlo = (acc.xlo ^ (this.xlo[f] ?? 0)) >>> 0
        acc.n += this.n[f] ?? 0
        acc.bytes += this.bytes[f] ?? 0
      } else partial(Math.max(lo, fLo), Math.min(hi, fHi))
    }
  }

  private set(f: number, xhi: number, xlo: number, n: number, bytes: number): void {
    this.xhi[f] = xhi
    this.xlo[f] = xlo
    this.n[f] = n
    this.bytes[f] = bytes
  }
}
