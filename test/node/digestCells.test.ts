import {describe, expect, it} from 'vitest'
import {seededRandom} from '../../bench/seededRandom.js'
import {HASH_SPACE} from '../../src/model/hash.js'
import {DigestCells, type FineCell} from '../../src/node/digestCells.js'
import {FINE_COUNT, FINE_WIDTH, fineOf} from '../../src/node/digestLayout.js'

/** rng is a small deterministic generator (the benches' mulberry32), so a failure replays. */
const rng = seededRandom

/** Model is the plain array of cells the trees must agree with. */
type Model = Map<number, FineCell>

/** walk is the old xorWhole: one cell at a time, in order. */
function walk(model: Model, lo: number, hi: number, stale?: ReadonlySet<number>): {acc: FineCell; parts: string[]} {
  const acc: FineCell = {xhi: 0, xlo: 0, n: 0, bytes: 0}
  const parts: string[] = []
  for (let f = fineOf(lo); f * FINE_WIDTH < hi; f++) {
    const fLo = f * FINE_WIDTH
    const fHi = fLo + FINE_WIDTH
    const c = model.get(f) ?? {xhi: 0, xlo: 0, n: 0, bytes: 0}
    if (fLo >= lo && fHi <= hi && !stale?.has(f)) {
      acc.xhi = (acc.xhi ^ c.xhi) >>> 0
      acc.xlo = (acc.xlo ^ c.xlo) >>> 0
      acc.n += c.n
      acc.bytes += c.bytes
    } else parts.push(`${Math.max(lo, fLo)}-${Math.min(hi, fHi)}`)
  }
  return {acc, parts: parts.sort()}
}

function viaTrees(cells: DigestCells, lo: number, hi: number, stale?: ReadonlySet<number>): {acc: FineCell; parts: string[]} {
  const acc: FineCell = {xhi: 0, xlo: 0, n: 0, bytes: 0}
  const parts: string[] = []
  cells.xorWhole(lo, hi, acc, (from, to) => parts.push(`${from}-${to}`), stale)
  return {acc, parts: parts.sort()}
}

/** randomCell is a cell with full 32-bit XOR halves and large counts (bytes past 2^32 too). */
const randomCell = (r: () => number): FineCell => ({xhi: Math.floor(r() * 2 ** 32), xlo: Math.floor(r() * 2 ** 32), n: Math.floor(r() * 1e6), bytes: Math.floor(r() * 2 ** 40)})

/** randomRange is a range of the hash space: aligned or not at either end, inside one cell, or the whole space. */
function randomRange(r: () => number): [number, number] {
  const pick = () => {
    const x = r()
    if (x < 0.3) return Math.floor(r() * (FINE_COUNT + 1)) * FINE_WIDTH
    return Math.floor(r() * (HASH_SPACE + 1))
  }
  const k = r()
  if (k < 0.1) return [0, HASH_SPACE]
  if (k < 0.2) {
    const f = Math.floor(r() * FINE_COUNT) * FINE_WIDTH
    return [f + Math.floor(r() * (FINE_WIDTH / 2)), f + FINE_WIDTH / 2 + Math.floor(r() * (FINE_WIDTH / 2))]
  }
  const [a, b] = [pick(), pick()]
  return a < b ? [a, b] : [b, a]
}

describe('DigestCells range aggregates (Fenwick trees)', () => {
  it('agree with a cell-by-cell walk for loaded cells, every later change, any range and any stale set', () => {
    const r = rng(12)
    const model: Model = new Map()
    const rows = Array.from({length: 3000}, () => ({f: Math.floor(r() * FINE_COUNT), ...randomCell(r)}))
    for (const row of rows) model.set(row.f, row) // load keeps the last row per cell, as the fine table holds one
    const cells = new DigestCells()
    cells.load(rows)
    // 30 rounds of 5 queries: each query walks up to 65,536 cells twice (the reference), so
    // more rounds cost seconds on a loaded machine without reaching new cases.
    for (let round = 0; round < 30; round++) {
      // A committed transaction: some cells change, some empty (a drop), hot cells more often.
      const changes: number[] = []
      for (let i = 0; i < 1 + Math.floor(r() * 40); i++) {
        const f = r() < 0.3 ? Math.floor(r() * 16) : Math.floor(r() * FINE_COUNT)
        const c = r() < 0.2 ? {xhi: 0, xlo: 0, n: 0, bytes: 0} : randomCell(r)
        model.set(f, c)
        changes.push(f, c.xhi, c.xlo, c.n, c.bytes)
      }
      cells.commit(Float64Array.from(changes))
      for (let q = 0; q < 5; q++) {
        const [lo, hi] = randomRange(r)
        const stale = r() < 0.5 ? undefined : new Set(Array.from({length: Math.floor(r() * (r() < 0.1 ? 5000 : 50))}, () => Math.floor(r() * FINE_COUNT)))
        expect(viaTrees(cells, lo, hi, stale), `round ${round} [${lo}, ${hi})`).toEqual(walk(model, lo, hi, stale))
        const f0 = Math.floor(r() * FINE_COUNT)
        const f1 = f0 + Math.floor(r() * (FINE_COUNT - f0))
        const byWalk = walk(model, f0 * FINE_WIDTH, (f1 + 1) * FINE_WIDTH).acc
        expect(cells.totals(f0, f1)).toEqual({keys: byWalk.n, bytes: byWalk.bytes})
      }
    }
    const all = walk(model, 0, HASH_SPACE).acc
    expect(cells.totals()).toEqual({keys: all.n, bytes: all.bytes})
    expect(cells.totals(5, 4)).toEqual({keys: 0, bytes: 0})
  })

  it('an empty range aggregates nothing and asks for no rows', () => {
    const cells = new DigestCells()
    cells.load([{f: 3, xhi: 1, xlo: 2, n: 3, bytes: 4}])
    expect(viaTrees(cells, 10, 10)).toEqual({acc: {xhi: 0, xlo: 0, n: 0, bytes: 0}, parts: []})
  })
})
