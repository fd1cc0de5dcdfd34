import {open, rename, rm, stat, statfs, truncate} from 'node:fs/promises'
import {join} from 'node:path'
import {errorMessage} from '../errors/errors.js'
import {formatBytes} from '../model/units.js'
import {DISK_RESERVE_ROUND_BYTES, type DiskReserveSetting, fullRetry, type FullRetry, recreateMargin, reserveAction, reserveTarget} from './diskReservePolicy.js'
import {type NodeLog} from './nodeLog.js'

/** RESERVE_FILE is the reserve's name in the data dir. */
export const RESERVE_FILE = 'shardctl-disk-reserve'

/** DiskSpace is what the reserve reads of the file system (statfs), injected so tests can pretend. */
export interface DiskSpace {
  /** totalBytes and freeBytes (free to an unprivileged writer: bavail) of the data dir's file system. */
  space(dir: string): Promise<{totalBytes: number; freeBytes: number}>
}

/** STATFS_SPACE reads the data dir's file system with `fs.statfs`. */
export const STATFS_SPACE: DiskSpace = {
  async space(dir) {
    const s = await statfs(dir)
    return {totalBytes: s.blocks * s.bsize, freeBytes: s.bavail * s.bsize}
  },
}

/** DiskReserveOptions configure a {@link DiskReserve}. */
export interface DiskReserveOptions {
  dir: string
  setting: DiskReserveSetting
  log: Pick<NodeLog, 'info' | 'warn'>
  disk?: DiskSpace
  /** spending tells whether a freeing operation that gave the reserve up still runs (StorageEngine.spendingReserve): the reserve is not made again under it. */
  spending?: () => boolean
}

/**
 * DiskReserve is the node's reserve (ballast) file in its data dir: disk space written
 * ahead of need (zeros, really allocated: not a sparse file) so that, when the disk fills,
 * the operations that free space (a shard drop after a move, an abort's drop, the orphan
 * sweep, a tombstone purge) still find room for the WAL frames their deletes write. SQLite
 * needs room to delete; without the reserve a full node could not even be drained.
 *
 * Only {@link freeingFull} gives it up, and only the storage engine's freeing operations call
 * it; client writes never do, so they keep failing with the full-disk error while the disk
 * is full. It comes back by {@link maintain} once the file
 * system has room for it plus a margin (see reserveAction and recreateMargin).
 */
export class DiskReserve {
  private readonly file: string
  private readonly disk: DiskSpace
  private heldBytes = 0
  private targetBytes = 0
  /** announcedWait: the "no room for the reserve" line was logged since it was last held (one line, not one per check). */
  private announcedWait = false
  private busy: Promise<void> = Promise.resolve()

  constructor(private readonly opts: DiskReserveOptions) {
    this.file = join(opts.dir, RESERVE_FILE)
    this.disk = opts.disk ?? STATFS_SPACE
  }

  /** held is the reserve's size on disk now (bytes; 0: none). */
  held(): number {
    return this.heldBytes
  }

  /** target is the size the reserve should have (bytes; 0: turned off). */
  target(): number {
    return this.targetBytes
  }

  /**
   * start sizes the reserve from the setting and the file system, adopts a reserve file a
   * previous run left (of the target size) and makes one when there is room (logging one
   * line when there is not: the node runs without it, and {@link maintain} makes it later).
   * Never throws: a reserve it cannot make is logged, not fatal.
   */
  async start(): Promise<void> {
    try {
      const {totalBytes} = await this.disk.space(this.opts.dir)
      this.targetBytes = reserveTarget(this.opts.setting, totalBytes)
      // A reserve being written when the last run died is not one.
      await rm(`${this.file}.tmp`, {force: true})
      this.heldBytes = await fileSize(this.file)
    } catch (err) {
      this.opts.log.warn(`disk reserve: cannot read ${this.opts.dir}: ${errorMessage(err)}; running without a reserve`)
      return
    }
    await this.maintain()
  }

  /**
   * maintain brings the reserve file to its target when {@link reserveAction} says so:
   * cuts a larger one to it, removes one while turned off, makes it (replacing a smaller one)
   * when the file system has room for it and the margin. Called at start and periodically; it reads the file's size on disk each time, so
   * a reserve an operator deleted is reported gone and made again. Never throws.
   */
  maintain(): Promise<void> {
    return this.serial(() => this.maintainNow()).catch(() => undefined)
  }

  /**
   * serial runs `step` after every step queued before it: a check (which reads the file's size)
   * and a release never interleave, so a check cannot count held a reserve being deleted.
   * A step's error is logged once here (the chain goes on) and rejects its own promise.
   */
  private serial<T>(step: () => Promise<T>): Promise<T> {
    const run = this.busy.then(step)
    this.busy = run.then(
      () => undefined,
      (err: unknown) => this.opts.log.warn(`disk reserve: ${errorMessage(err)}`),
    )
    return run
  }

  private async maintainNow(): Promise<void> {
    // Read what is on disk, not what was last made: an operator may have deleted (or replaced) the file.
    this.heldBytes = await fileSize(this.file)
    const {freeBytes} = await this.disk.space(this.opts.dir)
    const spending = this.opts.spending?.() ?? false
    const action = reserveAction({target: this.targetBytes, held: this.heldBytes, freeBytes, spending})
    if (action === 'remove') {
      await rm(this.file, {force: true})
      this.heldBytes = 0
      return this.maintainNow()
    }
    if (action === 'shrink') {
      await truncate(this.file, this.targetBytes)
      this.heldBytes = this.targetBytes
      this.opts.log.info(`disk reserve: holding ${formatBytes(this.targetBytes)} in ${this.file} (cut from a larger one)`)
      return
    }
    if (action === 'wait' && !spending && !this.announcedWait) {
      this.announcedWait = true
      this.opts.log.warn(`disk reserve: not enough room for ${formatBytes(this.targetBytes)} in ${this.opts.dir} (${formatBytes(freeBytes)} free; it is made once ${formatBytes(this.targetBytes + recreateMargin(this.targetBytes))} are free); running without it`)
    }
    if (action !== 'create') return
    const made = await writeReserve(this.file, this.targetBytes)
    if (made instanceof Error) {
      this.opts.log.warn(`disk reserve: could not make ${formatBytes(this.targetBytes)} in ${this.opts.dir}: ${made.message}; running without it`)
      return
    }
    this.heldBytes = this.targetBytes
    this.announcedWait = false
    this.opts.log.info(`disk reserve: holding ${formatBytes(this.targetBytes)} in ${this.file}`)
  }

  /**
   * freeingFull is the storage engine's question after a freeing transaction found no room
   * (see StorageEngineOptions.onFreeingFull): `checkpointed` says it was already retried
   * after a WAL checkpoint. Releases the reserve when one is held (one warning naming why)
   * and answers the next step (see fullRetry).
   */
  freeingFull(what: string, checkpointed: boolean): Promise<FullRetry> {
    return this.serial(async () => {
      const step = fullRetry(this.heldBytes, checkpointed)
      if (step === 'release') await this.release(what)
      return step
    })
  }

  /**
   * release deletes the reserve file (space given back to the file system), with one warning
   * naming `why`. A file it cannot delete is logged and counted as gone: the freeing
   * operation then goes on to its next step instead of failing on an unrelated error.
   */
  private async release(why: string): Promise<void> {
    const bytes = this.heldBytes
    this.heldBytes = 0
    try {
      await rm(this.file, {force: true})
    } catch (err) {
      this.opts.log.warn(`disk reserve: cannot delete ${this.file}: ${errorMessage(err)}; delete it by hand to free ${formatBytes(bytes)}`)
      return
    }
    this.opts.log.warn(`disk reserve released: ${formatBytes(bytes)} given up in ${this.opts.dir} so that ${why} can finish on a full disk; it is made again once ${formatBytes(this.targetBytes + recreateMargin(this.targetBytes))} are free`)
  }
}

/** fileSize is the size of `file` (0 when it does not exist). */
async function fileSize(file: string): Promise<number> {
  try {
    return (await stat(file)).size
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0
    throw err
  }
}

/**
 * writeReserve writes `bytes` of zeros to `file` and fsyncs it: written, not truncated or
 * sparse, so the blocks are really taken from the file system (a sparse file would free
 * nothing when deleted). On failure (ENOSPC) the partial file is removed and the error
 * returned.
 */
async function writeReserve(file: string, bytes: number): Promise<Error | undefined> {
  const chunk = Buffer.alloc(Math.max(DISK_RESERVE_ROUND_BYTES, 1024 * 1024))
  const partial = `${file}.tmp`
  try {
    const fh = await open(partial, 'w')
    try {
      for (let at = 0; at < bytes; ) {
        const {bytesWritten} = await fh.write(chunk, 0, Math.min(chunk.length, bytes - at), at)
        at += bytesWritten
      }
      await fh.sync()
    } finally {
      await fh.close()
    }
    // Renamed only once whole: a crash mid-write leaves a .tmp, never a short reserve taken for whole.
    await rename(partial, file)
    return undefined
  } catch (err) {
    await rm(partial, {force: true}).catch(() => undefined)
    return err instanceof Error ? err : new Error(String(err))
  }
}
