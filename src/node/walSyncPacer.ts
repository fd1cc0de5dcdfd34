/** WalSyncLimits are the byte counts at which a {@link WalSyncPacer} asks for background work. */
export interface WalSyncLimits {
  /** flushBytes: unsynced WAL bytes (commits made without an fsync) after which the WAL is flushed. */
  flushBytes: number
  /** checkpointBytes: bytes committed after which a PASSIVE checkpoint runs (it flushes the WAL too). */
  checkpointBytes: number
}

/** WalSyncTask is the background work a commit calls for: a WAL flush (fdatasync), a checkpoint, or none. */
export type WalSyncTask = 'flush' | 'checkpoint' | undefined

/**
 * WalSyncPacer decides, from the bytes each commit wrote, when a node's store asks for the
 * WAL to be flushed (fdatasync'd) or checkpointed off its writer thread, one task at a time.
 * Pure bookkeeping: the caller runs the task and calls {@link finished}.
 *
 * Why: a copy commits without fsync (LwwWriter.applyCopy), so the next client commit's
 * fsync (synchronous FULL) writes out every copy page since the last fsync; with a flush
 * every `flushBytes` the writer's own fsyncs find at most about `flushBytes` plus what a
 * running task lets pile up (see {@link unsyncedBound}). A commit that fsync'd (`synced`)
 * made every frame before it durable, so it zeroes the unsynced count.
 *
 * A checkpoint fsyncs the WAL only when it has frames to copy: SQLite's walCheckpoint
 * (wal.c) syncs the WAL just before it backfills, and skips both when nothing past the
 * frames already copied is safe to copy (a reader holding an old snapshot) or when the
 * checkpoint lock is held. So a checkpoint zeroes the unsynced count when it begins, as a
 * flush does, and {@link checkpointEnded} gives the count back when it copied nothing.
 */
export class WalSyncPacer {
  /** unsynced is the bytes committed without fsync since the last flush or fsync'd commit began. */
  private unsynced = 0
  /** sinceCheckpoint is the bytes committed since the last checkpoint began. */
  private sinceCheckpoint = 0
  /** coveredByCheckpoint is the unsynced count the running checkpoint zeroed as it began (0 once a commit fsync'd them): given back if it copied nothing. */
  private coveredByCheckpoint = 0
  private running = false

  constructor(private readonly limits: WalSyncLimits) {}

  /** committed takes one commit's `bytes` (`synced`: it fsync'd the WAL) and returns the task to start now, if any (the caller must start it). */
  committed(bytes: number, synced: boolean): WalSyncTask {
    this.sinceCheckpoint += bytes
    this.unsynced = synced ? 0 : this.unsynced + bytes
    if (synced) this.coveredByCheckpoint = 0
    if (this.running) return undefined
    if (this.sinceCheckpoint >= this.limits.checkpointBytes) {
      this.checkpointBegins()
      return 'checkpoint'
    }
    if (this.unsynced >= this.limits.flushBytes) {
      this.running = true
      this.unsynced = 0
      return 'flush'
    }
    return undefined
  }

  /**
   * checkpointNow claims the one task slot for a checkpoint asked for out of turn (a copy
   * waiting for the WAL to restart, see StorageEngine): true when none was running (the
   * caller must start it and call {@link finished}), false when one is (wait for it).
   */
  checkpointNow(): boolean {
    if (this.running) return false
    this.checkpointBegins()
    return true
  }

  /**
   * checkpointEnded says whether the running checkpoint fsync'd the WAL (`walSynced`: it
   * copied frames into the database file; see the class comment). When it did not, the
   * unsynced bytes it was counted as covering count again (those a fsync'd commit covered
   * since excepted), so the next commit may ask for a flush. Call it before {@link finished}.
   */
  checkpointEnded(walSynced: boolean): void {
    if (!walSynced) this.unsynced += this.coveredByCheckpoint
    this.coveredByCheckpoint = 0
  }

  /** checkpointBegins takes the task slot for a checkpoint and restarts the counts (the checkpoint is expected to fsync the WAL). */
  private checkpointBegins(): void {
    this.running = true
    this.sinceCheckpoint = 0
    this.coveredByCheckpoint = this.unsynced
    this.unsynced = 0
  }

  /**
   * finished says the task last returned by {@link committed} ended (done or failed), and
   * returns the task owed now, if any (the caller must start it): commits that passed a
   * limit while it ran could not start theirs, and the last commit of a copy may be among
   * them, leaving no later commit to ask (a checkpoint owed then waited for the next copy).
   */
  finished(): WalSyncTask {
    this.running = false
    return this.committed(0, false)
  }

  /** pendingUnsynced is the unsynced bytes not yet covered by a flush that started (for tests and metrics). */
  pendingUnsynced(): number {
    return this.unsynced
  }
}
