import type Database from 'better-sqlite3'
import {VALUES_BEFORE_WHERE} from './lwwSql.js'

/**
 * TOMBSTONES_BEFORE_SQL lists the tombstones older than a cutoff (wall ms) inside a hash
 * range [lo, hi), through the partial index on wall. The index is named because SQLite's
 * planner (no ANALYZE stats) otherwise picks kv_hash_key for the h range and reads every
 * row of the shard to find the few tombstones: 1.2 s for a 300k-key shard, on every digest
 * a verify asks for.
 */
export const TOMBSTONES_BEFORE_SQL = 'SELECT h, k, ver FROM kv INDEXED BY kv_tombstones WHERE v IS NULL AND wall < ? AND h >= ? AND h < ?'

/** StoreRow is a stored record with its hash. */
export interface StoreRow {
  h: number
  k: Buffer
  ver: string
  v: Buffer | null
}

/**
 * prepareStoreReads prepares the reads every store of a node answers (the main file and each
 * range store: STORE_SCHEMA_SQL), on `db`: a key's head, a range's rows, totals, old values
 * and old tombstones, the tombstone count, a meta value, and the digest cells.
 */
export function prepareStoreReads(db: Database.Database) {
  return {
    get: db.prepare<[number, Buffer], StoreRow>('SELECT h, k, ver, v FROM kv WHERE h = ? AND k = ?'),
    heads: db.prepare<[number, number], StoreRow & {len: number}>('SELECT h, k, ver, v, length(k) + coalesce(length(v), 0) AS len FROM kv WHERE h >= ? AND h < ?'),
    totals: db.prepare<[number, number], {n: number; bytes: number | null}>('SELECT count(*) AS n, sum(length(k) + coalesce(length(v), 0)) AS bytes FROM kv WHERE h >= ? AND h < ?'),
    // Values older than a cutoff (the version's first 15 digits are its wall ms), by a range scan.
    oldValues: db.prepare<[number, number, number], {h: number; k: Buffer; ver: string; v: Buffer}>(`SELECT h, k, ver, v FROM kv WHERE ${VALUES_BEFORE_WHERE}`),
    tombstonesBefore: db.prepare<[number, number, number], {h: number; k: Buffer; ver: string}>(TOMBSTONES_BEFORE_SQL),
    tombstoneCount: db.prepare<[], {n: number}>('SELECT count(*) AS n FROM kv WHERE v IS NULL'),
    metaGet: db.prepare<[string], {value: string}>('SELECT value FROM meta WHERE name = ?'),
    fineAll: db.prepare<[], {f: number; xhi: number; xlo: number; n: number; bytes: number}>('SELECT f, xhi, xlo, n, bytes FROM fine'),
  }
}

/** StoreReads are the statements {@link prepareStoreReads} prepares. */
export type StoreReads = ReturnType<typeof prepareStoreReads>
