import {readFileSync, renameSync, rmSync, writeFileSync} from 'node:fs'
import {hostname} from 'node:os'
import {join} from 'node:path'
import Database from 'better-sqlite3'
import {UserError} from '../errors/errors.js'
import {makeDirectories} from '../fs/makeDirectories.js'
import {writeFailure} from '../fs/fileFailure.js'
import {retryFor} from '../clock/retryFor.js'

/**
 * SERVE_LOCK_FILE is the data dir's lock: a small SQLite file (not the database) that the
 * serving process keeps exclusively locked for its whole life.
 *
 * Why. Two `node serve` processes on one dir (a frozen node judged gone and a replacement
 * started on the same dir, on the same host or a shared volume) would both open the
 * database: the frozen one, once resumed, answers clients 503 but its background work (orphan
 * sweep, range drops) keeps deleting rows, possibly ones the other acknowledged, and each
 * one's digest cells miss the other's commits. The etcd lease cannot prevent that (a frozen
 * process outlives it); a lock the OS holds for the process can: it is kept while the
 * process is frozen and released when it exits, SIGKILL included.
 *
 * How. Node has no flock. SQLite takes POSIX advisory (fcntl) locks on its files: a
 * connection in `locking_mode = EXCLUSIVE` that began an exclusive transaction keeps its
 * exclusive lock until it is closed, and another opener with no busy timeout gets
 * SQLITE_BUSY at once. fcntl locks belong to the process, which is why the lock is a file of
 * its own: the database's connections (the writer thread's, the readers') are not disturbed,
 * and SQLite tracks its own connections to the lock file, so a second acquire in the same
 * process is refused too (SQLITE_BUSY). The holder must never open the lock file by other
 * means (fs.readFileSync): closing any descriptor of a file drops the process's fcntl locks
 * on it. On NFS the lock holds only where the mount supports POSIX locks (lockd / NFSv4).
 */
export const SERVE_LOCK_FILE = 'serve.lock'

/** SERVE_LOCK_HOLDER_FILE names the lock's holder (JSON {@link LockHolder}): the lock file itself cannot be read while held. */
export const SERVE_LOCK_HOLDER_FILE = 'serve.lock.holder'

/** LockHolder is who took a data dir's lock, as it wrote it beside the lock (for the refusal's message). */
export interface LockHolder {
  pid: number
  host: string
  /** since: when it took the lock (ISO). */
  since: string
}

/**
 * DataDirLockHeld: another process (or another acquire in this one) holds the dir's lock.
 * `holder` is what the holder wrote beside it (undefined: unreadable, or not written yet).
 */
export class DataDirLockHeld extends Error {
  constructor(
    readonly dir: string,
    readonly holder: LockHolder | undefined,
  ) {
    super(`data dir ${dir} is locked by ${describeLockHolder(holder)}`)
    this.name = 'DataDirLockHeld'
  }
}

/** DataDirLock is a held lock of one data dir (see {@link SERVE_LOCK_FILE}). */
export class DataDirLock {
  private constructor(
    readonly dir: string,
    private db: Database.Database | undefined,
  ) {}

  /**
   * acquire takes `dir`'s lock at once or throws {@link DataDirLockHeld}, having changed
   * nothing (the lock file exists: its holder made it). Otherwise it makes `dir` (and its
   * parents) if missing, the lock file if missing, and writes the holder file (or, on a full
   * disk, removes the old one). Throws the
   * file system's or SQLite's error when the dir is unusable.
   */
  static acquire(dir: string): DataDirLock {
    makeDirectories(dir)
    // timeout 0: a held lock is refused at once, never waited for.
    const db = new Database(join(dir, SERVE_LOCK_FILE), {timeout: 0})
    try {
      db.pragma('locking_mode = EXCLUSIVE')
      // Begun and committed: in EXCLUSIVE locking mode the connection keeps the exclusive lock
      // it took until it is closed.
      db.exec('BEGIN EXCLUSIVE; COMMIT')
    } catch (err) {
      db.close()
      if ((err as {code?: string}).code === 'SQLITE_BUSY') throw new DataDirLockHeld(dir, readLockHolder(dir))
      throw err
    }
    // Best effort: the lock is what protects the dir. A node must restart on a full disk (to serve
    // reads and free space), where the holder file cannot be written; the previous holder's file
    // is removed instead (unlinking needs no space), so a refusal says the holder is unknown
    // rather than naming a pid that is gone.
    try {
      writeHolder(dir, {pid: process.pid, host: hostname(), since: new Date().toISOString()})
    } catch {
      forgetHolder(dir)
    }
    return new DataDirLock(dir, db)
  }

  /** held: this lock has not been released. */
  held(): boolean {
    return this.db !== undefined
  }

  /**
   * release gives the lock up (idempotent). Only for a process whose use of the dir is over
   * (its storage closed); a process that exits need not call it: the OS releases the lock.
   * The holder file stays (the next holder overwrites it): removing it could race one.
   */
  release(): void {
    this.db?.close()
    this.db = undefined
  }
}

/** writeHolder writes the holder file whole (a temporary file renamed over it): a refused reader never sees half of it. */
function writeHolder(dir: string, holder: LockHolder): void {
  const file = join(dir, SERVE_LOCK_HOLDER_FILE)
  const tmp = `${file}.${process.pid}.tmp`
  writeFileSync(tmp, `${JSON.stringify(holder)}\n`)
  renameSync(tmp, file)
}

/** forgetHolder removes the holder file and a temporary one left by a failed write, ignoring errors: a refusal then names no holder. */
function forgetHolder(dir: string): void {
  const file = join(dir, SERVE_LOCK_HOLDER_FILE)
  for (const f of [`${file}.${process.pid}.tmp`, file]) {
    try {
      rmSync(f, {force: true})
    } catch {
      // Not removable either: a refusal may then name the previous holder.
    }
  }
}

/** readLockHolder reads who holds `dir`'s lock (undefined: no holder file, or not one this build wrote). */
export function readLockHolder(dir: string): LockHolder | undefined {
  try {
    const v = JSON.parse(readFileSync(join(dir, SERVE_LOCK_HOLDER_FILE), 'utf8')) as Partial<LockHolder>
    if (typeof v.pid === 'number' && typeof v.host === 'string' && typeof v.since === 'string') return {pid: v.pid, host: v.host, since: v.since}
  } catch {
    // Unreadable: the message says the holder is unknown.
  }
  return undefined
}

/** describeLockHolder names a holder for a message: its pid and host, or that it is unknown. */
export function describeLockHolder(holder: LockHolder | undefined, localHost = hostname()): string {
  if (!holder) return 'another process (its pid is unknown)'
  return holder.host === localHost ? `pid ${holder.pid} (since ${holder.since})` : `pid ${holder.pid} on host ${holder.host} (since ${holder.since})`
}

/**
 * lockDataDir takes `dir`'s lock for `node serve` (see {@link DataDirLock.acquire}). A held
 * lock is tried again for up to `heldWaitMs` (0: refused at once; `node serve` waits 3 s for
 * a holder that is exiting), then refused: UserError LOCK_HELD
 * (exit 8), one line naming the dir and the holder, having changed nothing. An unusable dir
 * is BAD_INPUT.
 */
export async function lockDataDir(dir: string, heldWaitMs = 0): Promise<DataDirLock> {
  try {
    return await retryFor(() => DataDirLock.acquire(dir), (err) => err instanceof DataDirLockHeld, heldWaitMs)
  } catch (err) {
    if (err instanceof DataDirLockHeld) throw lockHeldError(err)
    throw new UserError('BAD_INPUT', `cannot open data dir ${dir}: ${writeFailure(err)}`, 'pass a writable --data-dir that belongs to this node id', {cause: err})
  }
}

/** lockHeldError is the refusal of a start on a dir another process holds. */
export function lockHeldError(err: DataDirLockHeld, localHost = hostname()): UserError {
  const h = err.holder
  const which = h ? `that process (pid ${h.pid}${h.host === localHost ? '' : ` on host ${h.host}`})` : `the process that holds ${join(err.dir, SERVE_LOCK_FILE)} (see \`fuser ${join(err.dir, SERVE_LOCK_FILE)}\`)`
  const kill = h && h.host === localHost ? ` (kill -9 ${h.pid})` : ''
  return new UserError(
    'LOCK_HELD',
    `data dir ${err.dir} is in use by ${describeLockHolder(h, localHost)}: two processes on one dir would delete rows the other acknowledged; this process changed nothing`,
    `stop or kill ${which} first; a frozen one (SIGSTOP, a paused VM) keeps the lock and must be killed${kill}; the lock is released when it exits`,
    {cause: err},
  )
}
