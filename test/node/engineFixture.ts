import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import Database from 'better-sqlite3'
import {afterEach} from 'vitest'
import {HASH_SPACE} from '../../src/model/hash.js'
import {formatHlc} from '../../src/model/hlc.js'
import {DB_FILE} from '../../src/node/lwwSql.js'
import {type NodeRecord} from '../../src/node/protocol.js'
import {StorageEngine, type StorageEngineOptions} from '../../src/node/storageEngine.js'

/** OpenEngine opens a real engine in a temp dir (or `dir`, to reopen one); the fixture closes and deletes both after each test. */
export type OpenEngine = (opts?: Partial<StorageEngineOptions>, dir?: string) => {engine: StorageEngine; dir: string}

/**
 * engineFixture returns an opener of real storage engines on temp dirs named `shardctl-<name>-`,
 * with `defaults` under each test's own options, and registers the afterEach that closes every
 * engine opened and deletes every dir. Call it once at a test file's top level.
 */
export function engineFixture(name: string, defaults: Partial<StorageEngineOptions>): OpenEngine {
  const dirs: string[] = []
  const engines: StorageEngine[] = []
  afterEach(async () => {
    for (const e of engines.splice(0)) await e.close()
    for (const d of dirs.splice(0)) rmSync(d, {recursive: true, force: true})
  })
  return (opts = {}, dir = mkdtempSync(join(tmpdir(), `shardctl-${name}-`))) => {
    if (!dirs.includes(dir)) dirs.push(dir)
    const engine = StorageEngine.open({dir, tombstoneGraceMs: 3_600_000, synchronous: 'NORMAL', clock: () => 0, ...defaults, ...opts})
    engines.push(engine)
    return {engine, dir}
  }
}

/** v is an HLC version at `wall` ms. */
export const v = (wall: number, counter = 0, writer = 'w'): string => formatHlc({wall, counter, writer})
/** rec is a record of `key` at `version`; a null value is a tombstone. */
export const rec = (key: string, version: string, value: string | null): NodeRecord => ({key: Buffer.from(key), version, value: value === null ? null : Buffer.from(value)})
/** ALL is the whole hash space. */
export const ALL = {lo: 0, hi: HASH_SPACE}

/** mainSql runs `run` on a connection of its own to the main file of data dir `dir` (closed after), and returns what it returns. */
export function mainSql<T>(dir: string, run: (db: Database.Database) => T): T {
  const db = new Database(join(dir, DB_FILE))
  try {
    return run(db)
  } finally {
    db.close()
  }
}
