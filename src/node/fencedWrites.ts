import {boundedWait} from '../clock/boundedWait.js'
import {type HashRange, rangesOverlap} from '../model/range.js'

/**
 * FencedWrites tracks the writes a node has let past its epoch fence until they finish
 * (committed or failed), so that accepting a newer epoch of a shard can wait for those
 * admitted at an older one, or under another shard's entry whose range overlaps it.
 *
 * Why: a write is fenced when its request arrives and then queued behind the storage writer.
 * Without this, a node could answer a barrier's `accept(E+1)` while a write fenced at E was
 * still queued; that write then committed, and was acknowledged at E, after the barrier, after
 * the copy had read past its key and possibly after verify. At rf 1 it lived only on the
 * source, which is dropped at cleanup: an acknowledged write lost (found by review, session 15:
 * a 7.7 MB apply ahead of it kept it queued 820 ms past the source's accept).
 *
 * Why other shards count: a split keeps the parent's id for the lower half and gives the upper
 * half a new id, with no barrier (it moves no data). A write fenced at the parent's epoch
 * before the split, for a key now in the upper half, is still queued when a move of the upper
 * half begins; that move's accept names the new id only. So a write admitted under another
 * shard id whose fenced range overlaps the accepted shard's is waited for too (shards partition
 * the hash space, so such a write was fenced against an entry the split made stale), and so
 * is one whose fence check is still running (its range is not known yet).
 *
 * A write is admitted BEFORE its last fence check: one admitted after a snapshot of the
 * admitted writes runs its fence check after it too, and so sees the newer epoch (or, for a
 * split's parent, the overlap that makes the node re-read it) and is refused.
 */
export class FencedWrites {
  private readonly open = new Set<Admitted>()

  /**
   * admit registers a write of `shard` carrying `epoch`. Call `fencedTo` with the shard's range
   * once its fence check passed, and `finish` once it finished, however it ended (twice is harmless).
   */
  admit(shard: number, epoch: number): AdmittedWrite {
    let finish!: () => void
    let fenced!: () => void
    const done = new Promise<void>((r) => (finish = r))
    const entry: Admitted = {shard, epoch, range: undefined, done, fenced: new Promise<void>((r) => (fenced = r))}
    this.open.add(entry)
    return {
      fencedTo: (range) => {
        entry.range = range
        fenced()
      },
      finish: () => {
        this.open.delete(entry)
        fenced()
        finish()
      },
    }
  }

  /**
   * pendingBefore counts the unfinished writes that accepting `epoch` of `shard` (range `range`)
   * waits for: of `shard` at an epoch below `epoch`, or of another shard overlapping `range` or
   * not fenced yet.
   */
  pendingBefore(shard: number, epoch: number, range: HashRange): number {
    let n = 0
    for (const e of this.open) if (holdsBack(e, shard, epoch, range)) n++
    return n
  }

  /**
   * allSettled resolves true once every write admitted (by now), of any shard and epoch, has
   * finished, or false when `waitMs` passed first. A node that lost its etcd lease runs this
   * before it serves again: a barrier skipped it while it had no lease, so a write it let in
   * before and still commits would otherwise land after the copy began reading it.
   */
  async allSettled(waitMs: number): Promise<boolean> {
    return raceTimeout([...this.open].map((e) => e.done), waitMs)
  }

  /**
   * olderSettled resolves true once every write {@link pendingBefore} counts (by now) has
   * finished, or false when `waitMs` passed first. A write of another shard whose fence check is
   * still running is waited for until it is fenced to a range that does not overlap `range`.
   * Writes admitted after the call are not waited for.
   */
  async olderSettled(shard: number, epoch: number, range: HashRange, waitMs: number): Promise<boolean> {
    return raceTimeout([...this.open].filter((e) => holdsBack(e, shard, epoch, range)).map((e) => settled(e, shard, range)), waitMs)
  }
}

/** AdmittedWrite is one admitted write's handle (see {@link FencedWrites.admit}). */
export interface AdmittedWrite {
  fencedTo(range: HashRange): void
  finish(): void
}

interface Admitted {
  shard: number
  epoch: number
  /** range is the shard range the write's fence check passed with; undefined until then. */
  range: HashRange | undefined
  done: Promise<void>
  /** fenced resolves once `range` is set or the write finished. */
  fenced: Promise<void>
}

/** raceTimeout resolves true once all of `waits` resolved, or false after `waitMs`. */
async function raceTimeout(waits: Promise<void>[], waitMs: number): Promise<boolean> {
  if (waits.length === 0) return true
  return (await boundedWait(Promise.all(waits), waitMs)).done
}

function holdsBack(e: Admitted, shard: number, epoch: number, range: HashRange): boolean {
  if (e.shard === shard) return e.epoch < epoch
  return e.range === undefined || rangesOverlap(e.range, range)
}

/** settled resolves when `e` no longer holds back an accept of `shard` over `range`: finished, or fenced to a range of another shard that does not overlap. */
async function settled(e: Admitted, shard: number, range: HashRange): Promise<void> {
  if (e.shard !== shard && e.range === undefined) {
    await e.fenced
    if (e.range !== undefined && !rangesOverlap(e.range, range)) return
  }
  await e.done
}
