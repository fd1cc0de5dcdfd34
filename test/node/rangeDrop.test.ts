import {join} from 'node:path'
import {describe, expect, it, vi} from 'vitest'
import {DigestCells} from '../../src/node/digestCells.js'
import {keyHash} from '../../src/model/hash.js'
import {FINE_COUNT, FINE_WIDTH} from '../../src/node/digestLayout.js'
import {DB_FILE, LwwWriter, openConnection} from '../../src/node/lwwSql.js'
import {RangeDropStoppedError, type StorageEngine} from '../../src/node/storageEngine.js'
import {type NodeRecord} from '../../src/node/protocol.js'
import {ALL, engineFixture, rec, v} from './engineFixture.js'

const open = engineFixture('drop', {synchronous: 'FULL'})
const openInline = engineFixture('drop-inline', {synchronous: 'NORMAL', writerThread: false})

/** everything lists every record `engine` holds, in (hash, key) order. */
function everything(engine: StorageEngine): NodeRecord[] {
  const out: NodeRecord[] = []
  let cursor: string | undefined
  do {
    const page = engine.scan(ALL, cursor, 1 << 20)
    out.push(...page.records)
    cursor = page.cursor
  } while (cursor)
  return out
}

/** expectCellsExact checks `engine`'s cached digest cells against a fresh engine holding the same rows. */
async function expectCellsExact(engine: StorageEngine): Promise<void> {
  const rows = everything(engine)
  const {engine: fresh} = openInline()
  if (rows.length) await fresh.apply(rows)
  expect(engine.digest(ALL)).toEqual(fresh.digest(ALL))
}

/** writerOn opens `dir`'s database as its writer does (cells loaded from the table), and a spy on its transactions. */
function writerOn(dir: string) {
  const db = openConnection(join(dir, DB_FILE), 'FULL', 16384)
  const cells = new DigestCells()
  cells.load(db.prepare<[], {f: number; xhi: number; xlo: number; n: number; bytes: number}>('SELECT f, xhi, xlo, n, bytes FROM fine').all())
  const writer = new LwwWriter(db, cells)
  return {db, cells, writer, transactions: vi.spyOn(writer, 'inTransaction')}
}

describe('dropping a range', () => {
  it('commits one transaction per slice, not one per fine bucket (a commit is an fsync; a shard spans up to 65,536 buckets)', async () => {
    const {engine, dir} = open()
    await engine.apply(Array.from({length: 3000}, (_, i) => rec(`drop-${i}`, v(1), 'x')))
    await engine.close()
    const {db, cells, writer, transactions} = writerOn(dir)
    try {
      const buckets = new Set(Array.from({length: FINE_COUNT}, (_, f) => f).filter((f) => cells.count(f) > 0)).size
      expect(buckets).toBeGreaterThan(2000) // 3000 keys spread over most buckets: per bucket, 2000+ commits
      const slice = writer.deleteSlice(ALL, 0, 60_000)
      expect(slice.result).toEqual({deleted: 3000, next: -1})
      expect(transactions).toHaveBeenCalledTimes(1)
      expect(db.prepare('SELECT count(*) AS n FROM kv').get()).toEqual({n: 0})
      expect(Array.from({length: FINE_COUNT}, (_, f) => cells.count(f)).every((n) => n === 0)).toBe(true)
    } finally {
      db.close()
    }
  })

  it('still yields between slices: a slice of 0 ms deletes one bucket and says where to go on', async () => {
    const {engine, dir} = open()
    const keys = Array.from({length: 20_000}, (_, i) => `slice-${i}`)
    await engine.apply(keys.map((k) => rec(k, v(1), 'x')))
    await engine.close()
    const range = {lo: 0, hi: 64 * FINE_WIDTH}
    const inRange = keys.filter((k) => keyHash(Buffer.from(k)) < range.hi).length
    expect(inRange).toBeGreaterThan(0)
    const {db, writer, transactions} = writerOn(dir)
    try {
      let from = 0
      let deleted = 0
      let slices = 0
      for (; from >= 0 && slices <= 64; slices++) {
        const s = writer.deleteSlice(range, from, 0)
        expect(s.result.next === -1 || s.result.next === from + 1).toBe(true)
        deleted += s.result.deleted
        from = s.result.next
      }
      expect({deleted, slices, transactions: transactions.mock.calls.length}).toEqual({deleted: inRange, slices: 64, transactions: 64})
      expect(db.prepare('SELECT count(*) AS n FROM kv').get()).toEqual({n: keys.length - inRange})
    } finally {
      db.close()
    }
  })

  it('bounds one table-order transaction by time: at 0 ms it takes one id and says so, so a drop never holds the writer for a whole chunk', async () => {
    const {engine, dir} = open()
    const keys = Array.from({length: 300}, (_, i) => `timed-${i}`)
    await engine.apply(keys.map((k) => rec(k, v(1), 'x')))
    await engine.close()
    const {db, cells, writer, transactions} = writerOn(dir)
    try {
      const ids = Float64Array.from(db.prepare<[], number>('SELECT id FROM kv ORDER BY id').pluck().all())
      expect(ids.length).toBe(300)
      const one = writer.deleteRows(ALL, ids.slice(0, 10), 0)
      expect(one.result).toEqual({deleted: 1, used: 1})
      // An id already gone still counts as used, so the caller always moves on.
      expect(writer.deleteRows(ALL, ids.slice(0, 10), 0).result).toEqual({deleted: 0, used: 1})
      // The floor holds whatever the clock says: at 0 ms with a floor of 5, five ids.
      expect(writer.deleteRows(ALL, ids.slice(1, 20), 0, 5).result).toEqual({deleted: 5, used: 5})
      const rest = writer.deleteRows(ALL, ids.slice(6), Infinity)
      expect(rest.result).toEqual({deleted: 294, used: 294})
      expect(transactions).toHaveBeenCalledTimes(4)
      expect(db.prepare('SELECT count(*) AS n FROM kv').get()).toEqual({n: 0})
      expect(cells.totals()).toEqual({keys: 0, bytes: 0})
    } finally {
      db.close()
    }
  })

  it('deletes small rows in table order, in commits sized by the drop budget (64 ids first, each next at most double, never over 4096), and keeps the digest cells exact', async () => {
    const commits: number[] = []
    const {engine} = openInline({onCommit: (kind, _s, n) => kind === 'purge' && commits.push(n)})
    const keys = Array.from({length: 20_000}, (_, i) => `small-${i}`)
    for (let i = 0; i < keys.length; i += 5000) await engine.apply(keys.slice(i, i + 5000).map((k) => rec(k, v(1), 'x'.repeat(40))))
    const range = {lo: 0, hi: 40_000 * FINE_WIDTH} // about 61 % of the hash space, cut inside fine buckets at its end
    const inRange = keys.filter((k) => keyHash(Buffer.from(k)) < range.hi)
    commits.length = 0
    expect(await engine.deleteRange(range)).toBe(inRange.length)
    // The rows go in commits of the ids offered (in table order; nextDropBudget sizes each
    // from the one before: 64 first, at most double the one before, at most 4096); the
    // sweep's slices after them find nothing (0 records offered).
    const withRows = commits.filter((n) => n > 0)
    expect(withRows[0]).toBe(64)
    expect(withRows.every((n, i) => n <= 4096 && n <= 2 * (withRows[i - 1] ?? 32))).toBe(true)
    expect(withRows.length).toBeGreaterThanOrEqual(Math.ceil(inRange.length / 4096))
    expect(everything(engine).map((r) => r.key.toString()).sort()).toEqual(keys.filter((k) => keyHash(Buffer.from(k)) >= range.hi).sort())
    await expectCellsExact(engine)
  })

  it('stops when the range is held again, and never deletes what was written to it after that', async () => {
    const {engine} = openInline()
    const old = Array.from({length: 20_000}, (_, i) => `old-${i}`)
    for (let i = 0; i < old.length; i += 5000) await engine.apply(old.slice(i, i + 5000).map((k) => rec(k, v(1), 'old')))
    // The shard moves back while its old copy is dropped: after the drop's second check, the
    // node holds the range again and takes new writes — fresh keys, and newer values of old
    // keys whose rows (same row ids, updated in place) the drop had not reached yet.
    let checks = 0
    let held = false
    const fresh = [...Array.from({length: 500}, (_, i) => rec(`new-${i}`, v(2), 'new')), ...old.slice(-2000).map((k) => rec(k, v(2), 'new'))]
    let wrote: Promise<unknown> = Promise.resolve()
    const keepGoing = () => {
      if (++checks === 3) {
        // The map changes after this check queued its transaction: the writes queue behind it.
        setImmediate(() => {
          held = true
          wrote = engine.apply(fresh)
        })
      }
      return !held
    }
    const err = await engine.deleteRange(ALL, keepGoing).catch((e: unknown) => e)
    await wrote
    expect(err).toBeInstanceOf(RangeDropStoppedError)
    const deleted = (err as RangeDropStoppedError).deleted
    expect(deleted).toBeGreaterThan(0)
    expect(deleted).toBeLessThan(old.length)
    // Every new write survives with its value; nothing else came back.
    for (const r of fresh) expect(engine.get(r.key)?.value?.toString(), r.key.toString()).toBe('new')
    const left = everything(engine)
    expect(left.length).toBe(old.length - deleted + 500)
    await expectCellsExact(engine)
  })

  it('deletes big rows by hash range (they fill their own pages), every record of the range', async () => {
    const {engine} = openInline()
    const keys = Array.from({length: 300}, (_, i) => `big-${i}`)
    await engine.apply(keys.map((k) => rec(k, v(1), 'x'.repeat(8192))))
    expect(await engine.deleteRange(ALL)).toBe(300)
    expect(everything(engine)).toEqual([])
    await expectCellsExact(engine)
  })
})
