/**
 * FencedWrites tracks, per shard, the writes a node has let past its epoch fence until they
 * finish (committed or failed), so that accepting a newer epoch can wait for those admitted
 * at an older one.
 *
 * Why: a write is fenced when its request arrives and then queued behind the storage writer.
 * Without this, a node could answer a barrier's `accept(E+1)` while a write fenced at E was
 * still queued; that write then committed, and was acknowledged at E, after the barrier, after
 * the copy had read past its key and possibly after verify. At rf 1 it lived only on the
 * source, which is dropped at cleanup: an acknowledged write lost (found by review, session 15:
 * a 7.7 MB apply ahead of it kept it queued 820 ms past the source's accept).
 *
 * A write is admitted BEFORE its last fence check: one admitted after a snapshot of the
 * admitted writes runs its fence check after it too, and so sees the newer epoch and is refused.
 */
export class FencedWrites {
  private readonly open = new Map<number, Set<Admitted>>()

  /** admit registers a write of `shard` carrying `epoch`; call the returned function once it finished, however it ended. */
  admit(shard: number, epoch: number): () => void {
    let finish!: () => void
    const entry: Admitted = {epoch, done: new Promise<void>((r) => (finish = r))}
    let set = this.open.get(shard)
    if (!set) this.open.set(shard, (set = new Set()))
    set.add(entry)
    return () => {
      set.delete(entry)
      if (set.size === 0 && this.open.get(shard) === set) this.open.delete(shard)
      finish()
    }
  }

  /** pendingBefore counts the writes of `shard` admitted at an epoch below `epoch` that have not finished. */
  pendingBefore(shard: number, epoch: number): number {
    let n = 0
    for (const e of this.open.get(shard) ?? []) if (e.epoch < epoch) n++
    return n
  }

  /**
   * olderSettled resolves true once every write of `shard` admitted (by now) at an epoch below
   * `epoch` has finished, or false when `waitMs` passed first. Writes admitted after the call
   * are not waited for.
   */
  async olderSettled(shard: number, epoch: number, waitMs: number): Promise<boolean> {
    const older = [...(this.open.get(shard) ?? [])].filter((e) => e.epoch < epoch).map((e) => e.done)
    if (older.length === 0) return true
    let timer: NodeJS.Timeout | undefined
    const timedOut = new Promise<false>((r) => (timer = setTimeout(() => r(false), waitMs)))
    try {
      return await Promise.race([Promise.all(older).then(() => true as const), timedOut])
    } finally {
      clearTimeout(timer)
    }
  }
}

interface Admitted {
  epoch: number
  done: Promise<void>
}
