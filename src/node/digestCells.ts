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
 *
 * Beside the cells it keeps Fenwick trees (binary indexed trees) of their XORs, counts and
 * bytes, so the aggregate of any run of cells ({@link xorWhole}, {@link totals}) costs
 * O(log cells) instead of a walk over up to 65,536 cells: a whole-space shard's size is read
 * on the node's event loop for every /metrics scrape, `/v1/stats` and stats publish, and
 * that walk was the main thread's largest cost during a copy. XOR is its own inverse and the
 * counts and bytes are integers far below 2^53, so both trees stay exact.
 */
export class DigestCells {
  private readonly xhi = new Uint32Array(FINE_COUNT)
  private readonly xlo = new Uint32Array(FINE_COUNT)
  private readonly n = new Float64Array(FINE_COUNT)
  private readonly bytes = new Float64Array(FINE_COUNT)
  /** Fenwick trees over the cells, 1-based: entry i covers cells [i - lowbit(i), i). */
  private readonly txhi = new Uint32Array(FINE_COUNT + 1)
  private readonly txlo = new Uint32Array(FINE_COUNT + 1)
  private readonly tn = new Float64Array(FINE_COUNT + 1)
  private readonly tbytes = new Float64Array(FINE_COUNT + 1)

  /** load sets cells from persisted rows (the `fine` table). */
  load(rows: Iterable<{f: number; xhi: number; xlo: number; n: number; bytes: number}>): void {
    for (const r of rows) {
      this.xhi[r.f] = r.xhi
      this.xlo[r.f] = r.xlo
      this.n[r.f] = r.n
      this.bytes[r.f] = r.bytes
    }
    this.rebuild()
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
    if (f1 < f0) return {keys: 0, bytes: 0}
    const run = this.run(f0, f1 + 1)
    return {keys: run.n, bytes: run.bytes}
  }

  /**
   * xorWhole XORs the cells wholly inside [lo, hi) into `acc` and calls `partial` with the
   * [from, to) slivers of cells the range cuts (to be computed from rows), and with the
   * whole span of every cell in `stale` (cells whose cached content may lag the rows).
   * `partial` calls come in no particular order.
   */
  xorWhole(lo: number, hi: number, acc: FineCell, partial: (from: number, to: number) => void, stale?: ReadonlySet<number>): void {
    if (hi <= lo) return
    const first = fineOf(lo)
    const last = fineOf(hi - 1)
    // Cells [whole0, whole1) lie wholly inside the range; at most the first and the last are cut.
    const whole0 = first * FINE_WIDTH === lo ? first : first + 1
    const whole1 = (last + 1) * FINE_WIDTH === hi ? last + 1 : last
    if (whole0 > first) partial(lo, Math.min(hi, whole0 * FINE_WIDTH))
    if (whole1 <= last && last >= whole0) partial(Math.max(lo, last * FINE_WIDTH), hi)
    if (whole1 <= whole0) return
    const run = this.run(whole0, whole1)
    acc.xhi = (acc.xhi ^ run.xhi) >>> 0
    acc.xlo = (acc.xlo ^ run.xlo) >>> 0
    acc.n += run.n
    acc.bytes += run.bytes
    if (!stale || stale.size === 0) return
    // A stale cell's cached content comes out again; the caller recomputes it from rows.
    const outOf = (f: number) => {
      acc.xhi = (acc.xhi ^ (this.xhi[f] ?? 0)) >>> 0
      acc.xlo = (acc.xlo ^ (this.xlo[f] ?? 0)) >>> 0
      acc.n -= this.n[f] ?? 0
      acc.bytes -= this.bytes[f] ?? 0
      partial(f * FINE_WIDTH, (f + 1) * FINE_WIDTH)
    }
    if (stale.size < whole1 - whole0) {
      for (const f of stale) if (f >= whole0 && f < whole1) outOf(f)
    } else for (let f = whole0; f < whole1; f++) if (stale.has(f)) outOf(f)
  }

  /** run aggregates cells [f0, f1) from the trees. */
  private run(f0: number, f1: number): FineCell {
    const a = this.prefix(f1)
    const b = this.prefix(f0)
    return {xhi: (a.xhi ^ b.xhi) >>> 0, xlo: (a.xlo ^ b.xlo) >>> 0, n: a.n - b.n, bytes: a.bytes - b.bytes}
  }

  /** prefix aggregates cells [0, k). */
  private prefix(k: number): FineCell {
    let xhi = 0
    let xlo = 0
    let n = 0
    let bytes = 0
    for (let i = Math.min(k, FINE_COUNT); i > 0; i -= i & -i) {
      xhi ^= this.txhi[i] ?? 0
      xlo ^= this.txlo[i] ?? 0
      n += this.tn[i] ?? 0
      bytes += this.tbytes[i] ?? 0
    }
    return {xhi: xhi >>> 0, xlo: xlo >>> 0, n, bytes}
  }

  private set(f: number, xhi: number, xlo: number, n: number, bytes: number): void {
    const dhi = ((this.xhi[f] ?? 0) ^ xhi) >>> 0
    const dlo = ((this.xlo[f] ?? 0) ^ xlo) >>> 0
    const dn = n - (this.n[f] ?? 0)
    const dbytes = bytes - (this.bytes[f] ?? 0)
    this.xhi[f] = xhi
    this.xlo[f] = xlo
    this.n[f] = n
    this.bytes[f] = bytes
    for (let i = f + 1; i <= FINE_COUNT; i += i & -i) {
      this.txhi[i] = ((this.txhi[i] ?? 0) ^ dhi) >>> 0
      this.txlo[i] = ((this.txlo[i] ?? 0) ^ dlo) >>> 0
      this.tn[i] = (this.tn[i] ?? 0) + dn
      this.tbytes[i] = (this.tbytes[i] ?? 0) + dbytes
    }
  }

  /** rebuild recomputes the trees from the cells in O(cells): each entry starts as its cell, then adds itself into its parent. */
  private rebuild(): void {
    for (let i = 1; i <= FINE_COUNT; i++) {
      this.txhi[i] = this.xhi[i - 1] ?? 0
      this.txlo[i] = this.xlo[i - 1] ?? 0
      this.tn[i] = this.n[i - 1] ?? 0
      this.tbytes[i] = this.bytes[i - 1] ?? 0
    }
    for (let i = 1; i <= FINE_COUNT; i++) {
      const up = i + (i & -i)
      if (up > FINE_COUNT) continue
      this.txhi[up] = ((this.txhi[up] ?? 0) ^ (this.txhi[i] ?? 0)) >>> 0
      this.txlo[up] = ((this.txlo[up] ?? 0) ^ (this.txlo[i] ?? 0)) >>> 0
      this.tn[up] = (this.tn[up] ?? 0) + (this.tn[i] ?? 0)
      this.tbytes[up] = (this.tbytes[up] ?? 0) + (this.tbytes[i] ?? 0)
    }
  }
}
