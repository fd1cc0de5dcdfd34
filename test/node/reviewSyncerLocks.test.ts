import {existsSync, readFileSync, statSync} from 'node:fs'
import {join} from 'node:path'
import {describe, expect, it} from 'vitest'
import {DB_FILE} from '../../src/node/lwwSql.js'
import {BACKGROUND_CHECKPOINT_BYTES} from '../../src/node/storageEngine.js'
import {ALL, engineFixture, rec, v} from './engineFixture.js'

const open = engineFixture('syncer-locks', {})

/** posixLocksOn lists the POSIX locks this process holds on `file` (Linux: /proc/locks names the inode and the pid). */
function posixLocksOn(file: string): string[] {
  const ino = statSync(file).ino
  return readFileSync('/proc/locks', 'utf8')
    .split('\n')
    .filter((l) => l.includes(' POSIX ') && !l.includes('->') && l.includes(` ${process.pid} `) && l.includes(`:${ino} `))
    .map((l) => l.replace(/^\s*\d+:\s*/, '')) // the leading ordinal changes with other processes' locks
}

describe('background WAL and database syncs keep SQLite locks', {timeout: 120_000}, () => {
  // Closing ANY descriptor of a file drops every POSIX lock the process holds on it. SQLite's
  // SHARED lock on the database file is how another process's connection knows it is not the
  // last one (else its close checkpoints and deletes the WAL) and cannot leave WAL mode. The
  // database syncer holds a descriptor of its own: it must stay open until every connection closed.
  it.runIf(existsSync('/proc/locks'))('given the WAL flush, the background checkpoint and the database sync ran (each syncer opened its descriptor), when the engine goes on, then the process still holds its locks on the database file, and everything written survives a reopen', async () => {
    const heard: string[] = []
    const {engine, dir} = open({writerThread: true, synchronous: 'FULL', onWalSync: (file) => heard.push(file)})
    const file = join(dir, DB_FILE)
    const value = Buffer.alloc(64 * 1024, 3)
    const held = posixLocksOn(file)
    expect(held.length).toBeGreaterThan(0)
    const batches = Math.ceil((1.25 * BACKGROUND_CHECKPOINT_BYTES) / (16 * value.length))
    // Copy slices without fsync: WAL flushes, then a checkpoint and its database sync.
    for (let b = 0; b < batches; b++) await engine.applyCopyBatch(Array.from({length: 16}, (_, i) => ({key: Buffer.from(`lk-${b}-${i}`), version: v(1), value})), 'copy/lk', '{}', undefined, false)
    for (let i = 0; i < 400 && !(heard.includes('wal') && heard.includes('db')); i++) await new Promise((r) => setTimeout(r, 25))
    expect(heard).toContain('wal')
    expect(heard).toContain('db')
    await engine.apply([rec('after-syncs', v(2), 'x')], {clientWrite: true})
    expect(posixLocksOn(file)).toEqual(held)
    await engine.close()
    const {engine: again} = open({writerThread: true}, dir)
    expect(again.rangeTotals(ALL).keys).toBe(batches * 16 + 1)
    expect(again.get(Buffer.from('after-syncs'))?.value?.toString()).toBe('x')
  })
})
