import {type ChildProcess, spawn} from 'node:child_process'
import {existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {createInterface} from 'node:readline'
import {fileURLToPath} from 'node:url'
import {afterEach, describe, expect, it} from 'vitest'
import {DataDirLock, DataDirLockHeld, lockHeldError, readLockHolder, SERVE_LOCK_FILE} from '../../src/node/dataDirLock.js'
import {trackPid, untrackPid} from '../support/processReaper.js'

const root = fileURLToPath(new URL('../../', import.meta.url))
const script = fileURLToPath(new URL('../support/children/dirLockHolder.mjs', import.meta.url))
const dirs: string[] = []
const locks: DataDirLock[] = []
const children: ChildProcess[] = []

afterEach(() => {
  for (const c of children.splice(0)) {
    if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL')
    untrackPid(c.pid)
  }
  for (const l of locks.splice(0)) l.release()
  for (const d of dirs.splice(0)) rmSync(d, {recursive: true, force: true})
})

function newDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'shardctl-dirlock-'))
  dirs.push(d)
  return d
}

function acquire(dir: string): DataDirLock {
  const lock = DataDirLock.acquire(dir)
  locks.push(lock)
  return lock
}

/** heldBy: what acquiring `dir` here throws (fails the test when it is not refused). */
function refusal(dir: string): DataDirLockHeld {
  try {
    acquire(dir)
  } catch (err) {
    if (err instanceof DataDirLockHeld) return err
    throw err
  }
  throw new Error(`${dir} was locked again although it is held`)
}

/** Child is a dirLockHolder.mjs process and its report line. */
interface Child {
  proc: ChildProcess
  report: {pid: number; held?: boolean; refused?: boolean; message?: string}
  exited: Promise<number | string>
}

/** lockInChild runs test/support/children/dirLockHolder.mjs on `dir` and resolves with its report. */
async function lockInChild(dir: string): Promise<Child> {
  const built = `${root}dist/src/node/dataDirLock.js`
  if (!existsSync(built) || statSync(built).mtimeMs < statSync(`${root}src/node/dataDirLock.ts`).mtimeMs) throw new Error('dist/src/node/dataDirLock.js is missing or older than its source: run `npm run build`')
  const proc = spawn(process.execPath, [script, dir], {stdio: ['pipe', 'pipe', 'inherit']})
  trackPid(proc.pid)
  children.push(proc)
  const exited = new Promise<number | string>((resolve) => proc.once('exit', (code, signal) => resolve(code ?? signal ?? 'gone')))
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({input: proc.stdout!}).once('line', resolve)
    proc.once('exit', (code, signal) => reject(new Error(`dirLockHolder exited (${code ?? signal}) before reporting`)))
  })
  return {proc, report: JSON.parse(line) as Child['report'], exited}
}

/** fileState is a file's bytes and mtime: a refused acquire must change neither. */
function fileState(file: string): {bytes: string; mtimeMs: number} {
  return {bytes: readFileSync(file).toString('hex'), mtimeMs: statSync(file).mtimeMs}
}

describe('DataDirLock', {timeout: 60_000}, () => {
  it('given a missing dir, when acquired, then it makes the dir and names this process as the holder; a second acquire in this process is refused until the first is released', () => {
    const dir = join(newDir(), 'a', 'b')
    const first = acquire(dir)
    expect(existsSync(join(dir, SERVE_LOCK_FILE))).toBe(true)
    expect(readLockHolder(dir)?.pid).toBe(process.pid)
    const err = refusal(dir)
    expect(err.holder?.pid).toBe(process.pid)
    expect(err.message).toContain(dir)
    first.release()
    expect(first.held()).toBe(false)
    expect(acquire(dir).held()).toBe(true)
  })

  it('given another process holds the dir, when acquired here, then it is refused at once naming that pid, changing nothing; still while the holder is frozen (SIGSTOP); and acquired once the holder is SIGKILLed', async () => {
    const dir = newDir()
    const holder = await lockInChild(dir)
    expect(holder.report.held).toBe(true)
    const lockFile = join(dir, SERVE_LOCK_FILE)
    const before = fileState(lockFile)
    // Refused, not waited for: acquire is synchronous with SQLite's busy timeout at 0, so the refusal is its first answer.
    const err = refusal(dir)
    expect(err.holder?.pid).toBe(holder.report.pid)
    expect(fileState(lockFile)).toEqual(before)

    holder.proc.kill('SIGSTOP')
    expect(refusal(dir).holder?.pid).toBe(holder.report.pid)
    holder.proc.kill('SIGKILL')
    expect(await holder.exited).toBe('SIGKILL')
    const mine = acquire(dir)
    expect(mine.held()).toBe(true)
    expect(readLockHolder(dir)?.pid).toBe(process.pid)
  })

  it('given this process holds the dir and a second acquire here was refused (its connection closed), when another process acquires it, then it is refused: the holder kept its lock; released here, the other process gets it', async () => {
    const dir = newDir()
    const mine = acquire(dir)
    refusal(dir)
    const other = await lockInChild(dir)
    expect(other.report.refused, JSON.stringify(other.report)).toBe(true)
    expect(other.report.message).toContain(`pid ${process.pid}`)
    expect(await other.exited).toBe(8)
    mine.release()
    const again = await lockInChild(dir)
    expect(again.report.held).toBe(true)
  })

  it('given the holder file cannot be written (a full disk: here a directory stands in its way), when acquired, then the lock is still taken and a second acquire is refused naming no stale holder', () => {
    const dir = newDir()
    mkdirSync(join(dir, 'serve.lock.holder', 'in-the-way'), {recursive: true})
    const lock = acquire(dir)
    expect(lock.held()).toBe(true)
    expect(refusal(dir).holder).toBeUndefined()
  })

  it('lockHeldError is LOCK_HELD naming the dir, the holder pid (and its host when another), and that a frozen holder must be killed', () => {
    const err = new DataDirLockHeld('/data/n1', {pid: 4242, host: 'box-a', since: '2026-12-04T15:00:00.000Z'})
    const local = lockHeldError(err, 'box-a')
    expect(local.code).toBe('LOCK_HELD')
    expect(local.message).toMatch(/^data dir \/data\/n1 is in use by pid 4242 .*changed nothing$/)
    expect(local.hint).toContain('kill -9 4242')
    expect(local.hint).toMatch(/frozen .* must be killed/)
    const remote = lockHeldError(err, 'box-b')
    expect(remote.message).toContain('pid 4242 on host box-a')
    expect(remote.hint).not.toContain('kill -9')
    const unknown = lockHeldError(new DataDirLockHeld('/data/n1', undefined), 'box-a')
    expect(unknown.message).toContain('pid is unknown')
    expect(unknown.hint).toContain('/data/n1/serve.lock')
  })
})
