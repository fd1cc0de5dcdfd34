import {type Compare, compareHolds, type StoredValue} from '../store/store.js'

/** LapsedServingOptions: the I/O and timing a {@link LapsedServing} runs on (injected, so tests control them). */
export interface LapsedServingOptions {
  /** reread re-reads the whole shard map at one revision (ShardMapView.resync). Throws the store's errors. */
  reread: () => Promise<unknown>
  /**
   * confirm resolves true while the write floor the router's last registration was fenced on
   * still stands (same cluster meta, same floor key: {@link fenceHolds}), false when it does
   * not (`cluster init --force`). Throws the store's errors.
   */
  confirm: () => Promise<boolean>
  /** validMs: how long one confirmation vouches, counted from when it was sent. */
  validMs: number
  /** pauseMs: the time between two confirmations sent (they do not wait for each other), and between failed re-reads. */
  pauseMs: number
  /** now is a monotonic clock in ms. */
  now: () => number
  /** sleep waits `ms`; it should not keep the process alive. */
  sleep: (ms: number) => Promise<void>
  /** onServing reports the router serving again on its re-read map, its lease still lapsed. */
  onServing?: () => void
  /** onFailure reports a failed re-read or confirmation, the `nth` of this lapse (the router serves only while a confirmation vouches). */
  onFailure?: (err: unknown, nth: number) => void
}

/**
 * LapsedServing decides whether a router whose lease lapsed may serve before it has a new
 * lease and registration. Why it may: every request a router sends carries the shard's epoch
 * and every live replica refuses an older one (STALE_EPOCH, and the router re-reads the shard),
 * and a barrier waits for every live replica to take the new epoch; a replica without a lease
 * serves nothing, and one registering again serves only on a map listed after its alive/<id>
 * (so past any barrier that skipped it: src/node/storageNode.ts newMembership). So a router's map, even an old one, cannot make it read or write past a
 * move's phase: the router's own barrier entry only saves it the refusals. What the lease
 * adds is that the router's map is not arbitrarily old, and that the cluster's write floor
 * covers its `--w`.
 *
 * So a lapsed router serves again once, after the lapse, it has (1) re-read the whole map
 * (what ARCHITECTURE.md asks of a member whose lease lapsed: the watch may have died
 * silently) and (2) confirmed that the write floor its last registration was fenced on still
 * stands, i.e. the cluster was not re-created under it (else it could acknowledge a `--w 1`
 * write that the new floor does not count; a confirmation that finds it gone ends serving
 * until the router registers again). A confirmation is sent every `pauseMs` and vouches for
 * `validMs` from when it was sent; the re-read is done once per lapse (the watch keeps the
 * map current after it). Without this, a slow etcd kept a lapsed router out of
 * service for as long as it was slow: a new lease must have a keepalive answered within 0.9
 * of its TTL of its grant's send, two round trips, while a live lease needs one.
 */
export class LapsedServing {
  private lapsed = false
  private reread = false
  /** refused: a confirmation found the fence gone (the cluster re-created): final for this lapse. */
  private refused = false
  private vouchedUntil = -Infinity
  /** generation changes at every lapse and recovery, so a late answer never vouches for another lapse. */
  private generation = 0
  /** failures counts this lapse's failed re-reads and confirmations (for onFailure). */
  private failures = 0
  private running?: Promise<void>
  private stopped = false

  constructor(private readonly opts: LapsedServingOptions) {}

  /** lost starts the re-read and confirmations of a new lapse; serving() is false until they succeed. */
  lost(): void {
    if (this.stopped) return
    this.reset(true)
    this.start()
  }

  /** recovered ends the lapse (a new lease and registration are in place): confirmations stop. */
  recovered(): void {
    this.reset(false)
  }

  /**
   * nudge sends a confirmation now (the router's map changed): a `cluster init --force` under a
   * lapsed router shows first as map changes, and is then noticed one etcd round trip later,
   * as a registered router notices it when its registration update fails its fence.
   */
  nudge(): void {
    if (!this.lapsed || !this.reread || this.refused || this.stopped) return
    void this.confirmOnce(this.generation)
  }

  /** serving is true while the router is lapsed, has re-read the map since, and a confirmation still vouches. */
  serving(): boolean {
    return this.lapsed && this.reread && !this.refused && this.opts.now() < this.vouchedUntil
  }

  /** stop ends the confirmations; serving() is false from now on (the loop ends at its next wake-up, doing nothing more). */
  stop(): void {
    this.stopped = true
    this.reset(false)
  }

  private reset(lapsed: boolean): void {
    this.generation++
    this.lapsed = lapsed
    this.reread = false
    this.refused = false
    this.vouchedUntil = -Infinity
    this.failures = 0
  }

  private start(): void {
    if (this.running) return
    const generation = this.generation
    this.running = this.run(generation).finally(() => {
      this.running = undefined
      // A new lapse began while the old loop was winding down: it needs a loop of its own.
      if (this.generation !== generation && this.lapsed && !this.stopped) this.start()
    })
  }

  private current(generation: number): boolean {
    return generation === this.generation && this.lapsed && !this.stopped
  }

  private async run(generation: number): Promise<void> {
    while (this.current(generation) && !this.reread) {
      try {
        await this.opts.reread()
        if (this.current(generation)) this.reread = true
      } catch (err) {
        if (this.current(generation)) this.opts.onFailure?.(err, ++this.failures)
        await this.opts.sleep(this.opts.pauseMs)
      }
    }
    // Confirmations are sent every pauseMs without waiting for the one before (like a lease's
    // keepalives): the router keeps serving while etcd answers within validMs - pauseMs.
    const maxInFlight = Math.ceil(this.opts.validMs / this.opts.pauseMs) + 1
    let inFlight = 0
    while (this.current(generation) && !this.refused) {
      if (inFlight < maxInFlight) {
        inFlight++
        void this.confirmOnce(generation).finally(() => inFlight--)
      }
      await this.opts.sleep(this.opts.pauseMs)
    }
  }

  private async confirmOnce(generation: number): Promise<void> {
    const sentAt = this.opts.now()
    let holds: boolean
    try {
      holds = await this.opts.confirm()
    } catch (err) {
      if (this.current(generation)) this.opts.onFailure?.(err, ++this.failures)
      return
    }
    if (!this.current(generation)) return
    const wasServing = this.serving()
    // The cluster was re-created: only a new registration (which lowers the new floor) may serve.
    if (!holds) this.refused = true
    else this.vouchedUntil = Math.max(this.vouchedUntil, sentAt + this.opts.validMs)
    if (!wasServing && this.serving()) this.opts.onServing?.()
  }
}

/**
 * fenceHolds tells whether every compare of `fence` (a registration's fence: create
 * revisions of the cluster's meta and write floor, 0n for absent) matches `current`, the
 * keys as read now (undefined: absent).
 */
export function fenceHolds(fence: readonly Compare[], current: ReadonlyMap<string, Pick<StoredValue, 'createRevision' | 'modRevision'> | undefined>): boolean {
  return fence.every((c) => compareHolds(c, current.get(c.key)))
}

/**
 * fenceNamesAbsentFloor tells whether `fence` was taken while the cluster had no write floor
 * (its compare on `floorKey` names create revision 0: a cluster made before the floor). Such
 * a router does not serve lapsed: `cluster write-floor adopt` sets the floor from the routers
 * registered at that moment, which a lapsed router is not, so it could go on acknowledging at
 * its own `--w` below the adopted floor until a confirmation saw the new key; registering again
 * lowers the adopted floor first (recordWriteQuorum), as any router does.
 */
export function fenceNamesAbsentFloor(fence: readonly Compare[], floorKey: string): boolean {
  return fence.some((c) => c.key === floorKey && 'createRevision' in c && c.createRevision === 0n)
}
