import {boundedWait} from '../clock/boundedWait.js'
import {type HeldLock} from './leaseLock.js'

/**
 * HeldLocks is the set of leased locks a daemon holds at this moment (the autopilot's
 * leadership lock, and the executor lock while its executor runs), so that a stop which gives
 * up waiting for the work under them (stopWithin.ts) can still release them on its way out.
 *
 * Why: a process that exits holding a lock leaves it to expire with its lease (up to its TTL
 * after the last keepalive): an autopilot SIGTERMed during a long executor step (a node that
 * does not answer) exited mid-move with the executor lock held, and an operator's `apply
 * --resume` right after was refused with LOCK_HELD (exit 8) for up to 10 s. Releasing it is no
 * less safe than the lease expiring: every write made under a lock compares its key's create
 * revision, so whatever the stopping process still does under it is fenced off.
 */
export class HeldLocks {
  private readonly locks = new Set<HeldLock>()

  /** track adds `lock` until the returned function is called (its holder released it itself). */
  track(lock: HeldLock): () => void {
    this.locks.add(lock)
    return () => this.locks.delete(lock)
  }

  /** size is how many locks are tracked now. */
  get size(): number {
    return this.locks.size
  }

  /**
   * releaseAll releases every tracked lock (deletes its key if still this holder's, revokes its
   * lease), all at once, waiting at most `ms` in all: best effort, like every etcd step of a
   * stop (a lock etcd does not hear released expires with its lease). Never rejects.
   */
  async releaseAll(ms: number): Promise<void> {
    const all = [...this.locks]
    this.locks.clear()
    await boundedWait(Promise.all(all.map((l) => l.release().catch(() => undefined))), ms)
  }
}
