import {spawn} from 'node:child_process'
import {existsSync, mkdtempSync, rmSync, statSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {createInterface} from 'node:readline'
import {fileURLToPath} from 'node:url'
import {afterEach, describe, expect, it} from 'vitest'
import Database from 'better-sqlite3'
import {DB_FILE} from '../../src/node/lwwSql.js'
import {StorageEngine} from '../../src/node/storageEngine.js'
import {trackPid, untrackPid} from '../support/processReaper.js'

const child = fileURLToPath(new URL('../support/children/walWriter.mjs', import.meta.url))
const root = fileURLToPath(new URL('../../', import.meta.url))
const dirs: string[] = []

/** distFresh fails when the child's modules in dist/ are missing or older than their source (run `npm run build`). */
function distFresh(): void {
  for (const m of ['src/node/storageEngine', 'src/node/walSyncPacer', 'src/node/fileSyncer', 'src/node/storageWriterCore', 'src/node/lwwSql']) {
    const built = `${root}dist/${m}.js`
    if (!existsSync(built) || statSync(built).mtimeMs < statSync(`${root}${m}.ts`).mtimeMs) throw new Error(`dist/${m}.js is missing or older than ${m}.ts: run \`npm run build\``)
  }
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, {recursive: true, force: true})
})

/**
 * The background WAL flushes and database syncs (WalSyncPacer, FileSyncer) open their own
 * descriptors on the node's files and sync them from libuv's pool while the writer thread
 * commits. A SIGKILL in the middle of that must lose no acknowledged write, leave the copy's
 * resume state no further than its data, and leave a database SQLite opens and checks clean.
 */
describe('background WAL syncs across a SIGKILL', {timeout: 180_000}, () => {
  it('given copy slices without fsync and client writes, with WAL flushes and database syncs running, when the process is SIGKILLed, then every acknowledged write and every slice up to the stored resume state reads back', async () => {
    distFresh()
    const dir = mkdtempSync(join(tmpdir(), 'shardctl-walkill-'))
    dirs.push(dir)
    const proc = spawn(process.execPath, [child, dir, '200'], {stdio: ['ignore', 'pipe', 'inherit']})
    trackPid(proc.pid)
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()))
    const copies: number[] = []
    const clients: number[] = []
    const syncs = new Set<string>()
    // Kill after 40 slices (40 MiB: past several 4 MiB flushes and two 16 MiB checkpoints), mid-stream.
    await new Promise<void>((resolve, reject) => {
      const rl = createInterface({input: proc.stdout!})
      rl.on('line', (line) => {
        const [what, n] = line.split(' ')
        if (what === 'copy') copies.push(Number(n))
        if (what === 'client') clients.push(Number(n))
        if (what === 'sync') syncs.add(n ?? '')
        if (copies.length >= 40 && syncs.has('wal') && syncs.has('db')) resolve()
        if (what === 'done') reject(new Error(`the writer finished before the kill (syncs seen: ${[...syncs].join(', ') || 'none'})`))
      })
      proc.once('exit', (code, signal) => reject(new Error(`the writer exited (${code ?? signal}) before the kill`)))
    })
    proc.kill('SIGKILL')
    await exited
    untrackPid(proc.pid)

    const engine = StorageEngine.open({dir, tombstoneGraceMs: 3_600_000, writerThread: false})
    try {
      const lost = clients.filter((b) => engine.get(Buffer.from(`client-${b}`))?.value?.toString() !== `v${b}`)
      expect(lost).toEqual([])
      const state = JSON.parse(engine.metaValue('copy/kill') ?? '{"b":-1}') as {b: number}
      // The resume state is at least the last acknowledged slice, and every slice up to it is whole.
      expect(state.b).toBeGreaterThanOrEqual(copies.at(-1) ?? 0)
      const missing: string[] = []
      for (let b = 0; b <= state.b; b++) for (let i = 0; i < 16; i++) if (!engine.get(Buffer.from(`copy-${b}-${i}`))) missing.push(`copy-${b}-${i}`)
      expect(missing).toEqual([])
    } finally {
      await engine.close()
    }
    const db = new Database(join(dir, DB_FILE), {readonly: true})
    try {
      expect(db.pragma('quick_check', {simple: true})).toBe('ok')
    } finally {
      db.close()
    }
  })
})
