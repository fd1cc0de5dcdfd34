import {join} from 'node:path'
import {describe, expect, it} from 'vitest'
import {DB_FILE, EXPIRED_TOMBSTONES_SQL, openConnection} from '../../src/node/lwwSql.js'
import {TOMBSTONES_BEFORE_SQL} from '../../src/node/storageEngine.js'
import {ALL, engineFixture, rec, v} from './engineFixture.js'

const open = engineFixture('tombplan', {})

/**
 * What a digest at a tombstone cutoff (every verify asks for one) and a purge pass cost
 * must not grow with the shard's live keys: both find tombstones through the partial
 * index on wall. SQLite's planner, left alone, preferred the (h, k) index for the shard's
 * h range and read every row (1.2 s per digest of a 300k-key shard). Checked on the plan
 * SQLite actually chooses for the engine's own schema, and on the rows the query returns.
 */
describe('tombstone queries', () => {
  it('go through the partial tombstone index, never a scan of the h range', async () => {
    const {engine, dir} = open()
    await engine.apply([...Array.from({length: 200}, (_, i) => rec(`live-${i}`, v(5000), 'x')), rec('gone-1', v(1000), null), rec('gone-2', v(9000), null)])
    await engine.close()
    const db = openConnection(join(dir, DB_FILE), 'NORMAL', 16384)
    try {
      for (const [sql, args] of [
        [TOMBSTONES_BEFORE_SQL, [5000, ALL.lo, ALL.hi]],
        [EXPIRED_TOMBSTONES_SQL, [5000, ALL.lo, ALL.hi, 100]],
      ] as const) {
        const plan = db.prepare<unknown[], {detail: string}>(`EXPLAIN QUERY PLAN ${sql}`).all(...args).map((r) => r.detail)
        expect(plan.join('; ')).toMatch(/USING INDEX kv_tombstones/)
        expect(plan.join('; ')).not.toMatch(/kv_hash_key|SCAN kv/)
        const rows = db.prepare<unknown[], {k: Buffer}>(sql).all(...args)
        expect(rows.map((r) => r.k.toString())).toEqual(['gone-1'])
      }
    } finally {
      db.close()
    }
  })
})
