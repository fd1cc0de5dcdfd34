import type Database from 'better-sqlite3'

/**
 * Why the mark lives in the meta `node` row. A build before range stores (session 40 and
 * earlier) knows nothing of `range_store`: it would serve every span a range store holds from
 * the main file, which holds none of their rows, answering reads without acknowledged writes.
 * Such a build must refuse the dir, and it can only refuse with a check it already makes.
 * Its StorageEngine.open checks, in order: the schema (CREATE ... IF NOT EXISTS: passes
 * anything), the digest format (another format is recomputed, not refused: it would serve),
 * the meta `node` row against `--id` (another value: "data dir D belongs to node "X", not
 * "Y"", which `node serve` reports as `cannot open data dir D: ...`, exit 2), then the meta
 * `cluster` row (refused too, but its hint says to empty the dir: never for this). So the
 * mark is a suffix of the `node` row: every earlier build refuses with its existing one-line
 * error, at that check, before it changes anything (the format is this build's), and the
 * message it prints carries the mark's text, which says what to do. The session 41 build
 * refuses the same way (its range-store refusal comes later in its open).
 */
export const RANGE_STORE_MARK = ' (this data dir holds range stores: serve it with a build that reads them, or newer)'

/** NODE_META is the main file's meta row naming the node the dir belongs to (see StorageEngine.open). */
const NODE_META = 'node'

/** recordedNode is the node id a meta `node` value records, without {@link RANGE_STORE_MARK} ('': a row holding only the mark, no node yet). */
export function recordedNode(value: string): string {
  return value.endsWith(RANGE_STORE_MARK) ? value.slice(0, -RANGE_STORE_MARK.length) : value
}

/** nodeRowValue is the meta `node` value recording `node` ('' for none yet), with {@link RANGE_STORE_MARK} when `marked`. */
export function nodeRowValue(node: string, marked: boolean): string {
  return marked ? node + RANGE_STORE_MARK : node
}

/**
 * syncRangeStoreMark brings the mark on the main file `db`'s meta `node` row to its
 * range_store table: set while the table names a store, cleared once it names none. Run it
 * in the main-file transaction that adds the first or removes the last range_store row (the
 * mark then commits with the row: no moment where an older build could open the dir with a
 * store and no mark); StorageEngine.open runs it too, so the mark follows the table in any
 * dir this build serves. A dir with no node row gets one holding only the mark (an earlier
 * build records its node only where the row is absent, so it would serve), removed again
 * with the mark. Idempotent; writes nothing when the row is already as it should be.
 */
export function syncRangeStoreMark(db: Database.Database): void {
  const named = (db.prepare<[], {n: number}>('SELECT count(*) AS n FROM range_store').get()?.n ?? 0) > 0
  const row = db.prepare<[string], {value: string}>('SELECT value FROM meta WHERE name = ?').get(NODE_META)
  const node = row ? recordedNode(row.value) : ''
  const want = nodeRowValue(node, named)
  if (row?.value === want || (!row && want === '')) return
  if (want === '') db.prepare('DELETE FROM meta WHERE name = ?').run(NODE_META)
  else db.prepare('INSERT INTO meta (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value').run(NODE_META, want)
}
