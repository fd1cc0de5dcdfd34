import {type Shard} from '../model/shard.js'

/** ShardEntry is one shard as read from etcd, with the mod revision of the value it came from. */
export interface ShardEntry {
  shard: Shard
  modRevision: bigint
}

/**
 * ShardMapState is the pure, monotonic core of a shard-map follower (no I/O, no clock).
 * It folds in three kinds of observations, which may arrive in any interleaving:
 *
 * - a **snapshot**: every shard at one etcd revision R (a paged list pinned at R);
 * - a **watch event**: one put or delete, delivered in revision order;
 * - an **out-of-band read**: one shard (or its absence) read directly, e.g. after a node's
 *   STALE_EPOCH, while a snapshot or the watch may be in flight.
 *
 * Guarantee: no shard's entry ever moves backwards. A value replaces the held one only
 * when its mod revision is newer than the held value's, than the revision at which the
 * shard was last seen deleted, and than the newest snapshot applied (the snapshot already
 * decided everything at or below its revision). A snapshot older than one already applied
 * is ignored; a newer snapshot removes a shard only when the held value is not newer than
 * the snapshot. So a resync racing a watch event or a refresh can never undo either.
 *
 * {@link appliedRevision} is the revision up to which every shard-map change is reflected:
 * the newest snapshot's revision or watch event's revision, whichever is larger (watch
 * events arrive in order). Out-of-band reads never advance it: other shards may lag.
 */
export class ShardMapState {
  private readonly entries = new Map<number, ShardEntry>()
  /** deletedAt: shard id → a revision at which the shard was seen absent (above {@link floor} only). */
  private readonly deletedAt = new Map<number, bigint>()
  /** floor: the newest snapshot's revision; nothing at or below it can be news. */
  private floor = 0n
  private applied = 0n

  /**
   * applySnapshot folds in a consistent listing taken at `revision`. Returns true when an
   * entry changed. Ignored (false) when a snapshot at or above `revision` was applied before.
   */
  applySnapshot(items: readonly ShardEntry[], revision: bigint): boolean {
    if (revision <= this.floor) return false
    if (this.entries.size === 0 && this.deletedAt.size === 0) return this.seed(items, revision)
    let changed = false
    const listed = new Set<number>()
    for (const item of items) {
      listed.add(item.shard.id)
      if (this.offerPut(item)) changed = true
    }
    for (const [id, cur] of this.entries) {
      // Absent from the listing and not newer than it: deleted at or before `revision`.
      if (!listed.has(id) && cur.modRevision <= revision) {
        this.entries.delete(id)
        changed = true
      }
    }
    // From now on the snapshot decides everything at or below its revision: older tombstones are moot.
    this.floor = revision
    this.observeEvent(revision)
    for (const [id, at] of this.deletedAt) if (at <= this.floor) this.deletedAt.delete(id)
    return changed
  }

  /**
   * seed is applySnapshot into an empty state (a follower's first listing, 100k entries at
   * scale): nothing is held or known deleted, so the floor is the only bound, and it is
   * below every value of the listing; duplicates of an id keep the newest value.
   */
  private seed(items: readonly ShardEntry[], revision: bigint): boolean {
    for (const item of items) {
      const cur = this.entries.get(item.shard.id)
      if (item.modRevision > this.floor && (!cur || item.modRevision > cur.modRevision)) this.entries.set(item.shard.id, item)
    }
    this.floor = revision
    this.observeEvent(revision)
    return this.entries.size > 0
  }

  /** applyPut folds in a watch put event (revision order). Returns true when the entry changed. */
  applyPut(entry: ShardEntry): boolean {
    this.observeEvent(entry.modRevision)
    return this.offerPut(entry)
  }

  /** applyDelete folds in a watch delete event of shard `id` at `revision`. Returns true when the entry changed. */
  applyDelete(id: number, revision: bigint): boolean {
    this.observeEvent(revision)
    return this.offerAbsent(id, revision)
  }

  /**
   * offerPut folds in a value read out of band (or from a snapshot or event): it replaces
   * the held entry only when newer (see the class doc). Returns true when it did. Never
   * advances {@link appliedRevision}.
   */
  offerPut(entry: ShardEntry): boolean {
    const id = entry.shard.id
    if (entry.modRevision <= this.newestKnown(id)) return false
    this.entries.set(id, entry)
    this.deletedAt.delete(id)
    return true
  }

  /**
   * offerAbsent records that shard `id` did not exist at `revision` (a delete event, or a
   * direct read at that revision that found nothing). The held entry is removed only when
   * it is older than `revision`. Returns true when it was. Never advances {@link appliedRevision}.
   */
  offerAbsent(id: number, revision: bigint): boolean {
    if (revision > this.floor && revision > (this.deletedAt.get(id) ?? 0n)) this.deletedAt.set(id, revision)
    const cur = this.entries.get(id)
    if (!cur || cur.modRevision >= revision) return false
    this.entries.delete(id)
    return true
  }

  /** get returns shard `id` as last folded in, or undefined. */
  get(id: number): Shard | undefined {
    return this.entries.get(id)?.shard
  }

  /** entry returns shard `id` with its mod revision, or undefined. */
  entry(id: number): ShardEntry | undefined {
    return this.entries.get(id)
  }

  /** shards returns every held shard (no order promised). */
  shards(): Shard[] {
    return [...this.entries.values()].map((e) => e.shard)
  }

  /** appliedRevision: see the class doc. 0n before anything was applied. */
  appliedRevision(): bigint {
    return this.applied
  }

  private newestKnown(id: number): bigint {
    let n = this.floor
    const cur = this.entries.get(id)?.modRevision ?? 0n
    if (cur > n) n = cur
    const del = this.deletedAt.get(id) ?? 0n
    return del > n ? del : n
  }

  /** observeEvent records that the watch delivered revision `revision` (even an event it could not use). */
  observeEvent(revision: bigint): void {
    if (revision > this.applied) this.applied = revision
  }
}
