import {join} from 'node:path'
import {describe, expect, it, vi} from 'vitest'
import {DigestCells} from '../../src/node/digestCells.js'
import {keyHash} from '../../src/model/hash.js'
import {FINE_COUNT, FINE_WIDTH} from '../../src/node/digestLayout.js'
import {DB_FILE, LwwWriter, openConnection} from '../../src/node/lwwSql.js'
import {ALL, engineFixture, rec, v} from './engineFixture.js'

const open = engineFixture('drop', {synchronous: 'FULL'})

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
})
