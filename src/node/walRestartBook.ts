import {type WalCheckpoint} from './copyReader.js'

/** WalRestartLimits configure a {@link WalRestartBook}. */
export interface WalRestartLimits {
  /** restartBytes: the WAL length at which a copy commit waits for the WAL to restart (Infinity: never). */
  restartBytes: number
  /** pageSize is the database's page size: a checkpoint reports the WAL in frames of one page. */
  pageSize: number
}

/**
 * WalRestartBook estimates a node's WAL length from the commits and checkpoints it hears of,
 * and says when the next copy commit must wait for the WAL to restart (StorageEngine's
 * walRoom runs that wait). Pure bookkeeping: no I/O, no clock.
 *
 * The estimate is what the last checkpoint found plus the bytes committed since it began;
 * 0 once the writer's own checkpoint left nothing to copy (the next commit restarts the
 * WAL). It is counted as commits end, not only at checkpoints: a checkpoint slowed by a
 * busy machine (0.9 s seen) must not let a copy run the WAL past the writer's backstop
 * unseen.
 *
 * A wait is due at `restartBytes`, or further on after a wait that gave up: the next one is
 * then due only once the WAL grew another `restartBytes`, so a cause that lasts (a reader
 * holding an old snapshot) costs one wait per `restartBytes`, not one per copy slice.
 */
export class WalRestartBook {
  /** length is the WAL length estimate in bytes (see the class comment). */
  private length = 0
  /** last is what the last checkpoint found (to tell whether the next one copied anything new). */
  private last: WalCheckpoint | undefined
  /** dueAt is the length at which the next copy commit waits: restartBytes, or further on after a wait that gave up. */
  private dueAt: number

  constructor(private readonly limits: WalRestartLimits) {
    this.dueAt = limits.restartBytes
  }

  /** committed counts one commit's `bytes` into the estimate. */
  committed(bytes: number): void {
    this.length += bytes
  }

  /**
   * checkpointBegins returns the mark to hand to {@link checkpointFound} when a checkpoint
   * begins: what was committed after it is counted on top of what it finds.
   */
  checkpointBegins(): number {
    return this.length
  }

  /**
   * checkpointFound takes what a checkpoint begun at `mark` (see {@link checkpointBegins})
   * found, and returns true when it copied frames into the database file that the last one
   * had not (the file then needs an fdatasync). The estimate becomes the WAL it found plus
   * the bytes committed since `mark` (none when the estimate was reset meanwhile). A
   * checkpoint that found SQLite's checkpoint lock held (another checkpoint running)
   * reports log -1: it says nothing about the WAL, and changes nothing here.
   */
  checkpointFound(c: WalCheckpoint, mark: number): boolean {
    if (c.log < 0) return false
    this.length = c.log * this.limits.pageSize + Math.max(0, this.length - mark)
    const last = this.last
    this.last = c
    return c.checkpointed > 0 && (c.checkpointed !== last?.checkpointed || c.log !== last.log)
  }

  /**
   * restarted says the writer's checkpoint left nothing to copy: the next commit restarts
   * the WAL. Until a checkpoint says otherwise, assume it did; waits are due at
   * restartBytes again.
   */
  restarted(): void {
    this.length = 0
    this.dueAt = this.limits.restartBytes
  }

  /** gaveUp says a wait could not restart the WAL: the next wait is due once the WAL grew another restartBytes. */
  gaveUp(): void {
    this.dueAt = this.length + this.limits.restartBytes
  }

  /** mustWait is true when the next copy commit must wait for the WAL to restart first. */
  mustWait(): boolean {
    // The WAL restarted (by a wait, or by itself when the copy paused): waits are due at restartBytes again.
    if (this.length < this.limits.restartBytes) this.dueAt = this.limits.restartBytes
    return this.length >= this.dueAt
  }

  /** estimate is the WAL length estimate in bytes (for tests and metrics). */
  estimate(): number {
    return this.length
  }
}
