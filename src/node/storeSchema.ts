/**
 * STORE_SCHEMA_SQL creates the tables every store of a node holds: the node's main file and
 * each range store file (`ranges/<id>.sqlite`, issue 12 stage 1: src/node/README.md, "A
 * file per large range"). One text for both, so a range's rows, digest cells and meta have
 * the same layout wherever they live and the same code reads them.
 *
 * - kv: rows in arrival order (rowid table) with a unique (h, k) index: a shard is an index
 *   range scan, a random-key write dirties one table page and one small index page;
 * - kv_tombstones: purge and digest cutoffs find old tombstones without a scan;
 * - fine: the digest cells (digestCells.ts), committed with the rows they cover;
 * - meta: named values (node id, digest format, copy state; a range store's span);
 * - gc_floor: the node's gc floors, per hash range. Only the main file's rows count (floors
 *   are few and small, and kept whole in memory); a range store's table stays empty, and is
 *   there so the one writer (LwwWriter) prepares the same statements on every store.
 */
export const STORE_SCHEMA_SQL = `
  CREATE TABLE IF NOT EXISTS kv (
    id INTEGER PRIMARY KEY,
    h INTEGER NOT NULL,
    k BLOB NOT NULL,
    ver TEXT NOT NULL,
    v BLOB,
    wall INTEGER
  );
  CREATE UNIQUE INDEX IF NOT EXISTS kv_hash_key ON kv (h, k);
  CREATE INDEX IF NOT EXISTS kv_tombstones ON kv (wall) WHERE v IS NULL;
  CREATE TABLE IF NOT EXISTS fine (f INTEGER PRIMARY KEY, xhi INTEGER NOT NULL, xlo INTEGER NOT NULL, n INTEGER NOT NULL, bytes INTEGER NOT NULL);
  CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
  CREATE TABLE IF NOT EXISTS gc_floor (lo INTEGER NOT NULL, hi INTEGER NOT NULL, floor INTEGER NOT NULL, PRIMARY KEY (lo, hi));
`

/**
 * MAIN_SCHEMA_SQL creates the main file's own table beside {@link STORE_SCHEMA_SQL}:
 * - range_store: which range store file serves which hash span (spanTable.ts). Changed only
 *   in the main file's transactions, so one commit moves a span between stores; a hash no
 *   row names is the main file's. Empty on every node until something splits a range out.
 */
export const MAIN_SCHEMA_SQL = `${STORE_SCHEMA_SQL}
  CREATE TABLE IF NOT EXISTS range_store (store TEXT PRIMARY KEY, lo INTEGER NOT NULL, hi INTEGER NOT NULL);
`
