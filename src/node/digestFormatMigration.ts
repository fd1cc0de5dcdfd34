import type Database from 'better-sqlite3'
import {type FineCell} from './digestCells.js'
import {fineOf} from './digestLayout.js'
import {RECORD_HASH_FORMAT, recordHash} from './recordHash.js'
import {type StoreRow} from './storeReads.js'

/**
 * migrateDigestFormat brings a data dir's digest cells to {@link RECORD_HASH_FORMAT}: when
 * the meta table records another format (older, or newer: a dir a later build wrote and
 * this one rolled back to) or none (a dir from before formats were recorded, or a new
 * one), every fine cell is recomputed from the rows and the format is recorded, in one
 * transaction — a crash midway leaves the old cells and format, and the next open starts
 * over. Cells at a format other than the one new records are hashed at would mix two
 * formats in one XOR, which no replica could ever match. Every store of a node (the main
 * file, each range store) is brought to the format this way when it is opened.
 */
export function migrateDigestFormat(db: Database.Database): void {
  const row = db.prepare('SELECT value FROM meta WHERE name = ?').get('format') as {value: string} | undefined
  if (row && Number(row.value) === RECORD_HASH_FORMAT) return
  db.transaction(() => {
    const cells = new Map<number, FineCell>()
    for (const r of db.prepare('SELECT h, k, ver, v FROM kv').iterate() as IterableIterator<StoreRow>) {
      const f = fineOf(r.h)
      let c = cells.get(f)
      if (!c) cells.set(f, (c = {xhi: 0, xlo: 0, n: 0, bytes: 0}))
      const [a, b] = recordHash(r.k, r.ver, r.v)
      c.xhi = (c.xhi ^ a) >>> 0
      c.xlo = (c.xlo ^ b) >>> 0
      c.n++
      c.bytes += r.k.length + (r.v?.length ?? 0)
    }
    db.prepare('DELETE FROM fine').run()
    const put = db.prepare('INSERT INTO fine (f, xhi, xlo, n, bytes) VALUES (?, ?, ?, ?, ?)')
    for (const [f, c] of cells) put.run(f, c.xhi, c.xlo, c.n, c.bytes)
    db.prepare('INSERT INTO meta (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value').run('format', String(RECORD_HASH_FORMAT))
  })()
}
