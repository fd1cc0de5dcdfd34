import {type NodeRecord} from '../node/protocol.js'
import {encodedRecordSize} from '../node/recordCodec.js'
import {DueHeap, type DueItem} from './dueHeap.js'
import {writeQuorum} from './quorum.js'
import {type RoutingTable} from './routingTable.js'

/**
 * Hint is one record a replica missed: its apply of a write failed (timed out, refused,
 * fenced) while the write reached other replicas. `shard` and `epoch` are where the write
 * was sent; every delivery re-resolves them from the router's current map.
 */
export interface Hint {
  shard: number
  epoch: number
  node: string
  record: NodeRecord
}

/** HintPlacement is where a hint goes now: the shard that owns its key in the current map, at that shard's epoch. */
export interface HintPlacement {
  shard: number
  epoch: number
}

/** HintBatch is one delivery: records for one node and one shard at one epoch. */
export interface HintBatch {
  node: string
  shard: number
  epoch: number
  records: NodeRecord[]
}

/**
 * DeliveryOutcome is how one delivery ended:
 * - `delivered`: the node took the batch (stored it, or already held the version or a newer one);
 * - `retry`: a transient failure (timeout, connection refused or reset, the node not serving);
 * - `fenced`: the node refused the epoch (STALE_EPOCH, NOT_OWNER): retry after the map was re-read;
 * - `rejected`: a refusal that no retry can change (e.g. the version is older than the node's tombstone grace).
 */
export type DeliveryOutcome = 'delivered' | 'retry' | 'fenced' | 'rejected'

/**
 * HintEvent is what happened to hints, for metrics, counted per record: `queued`,
 * `delivered`, `dropped` (the queue was full, or closed), `expired` (still undelivered at
 * `maxAgeMs`), `obsolete` (the node no longer holds the key's shard in the router's map: it
 * must not get the record) and `rejected`.
 */
export type HintEvent = 'queued' | 'delivered' | 'dropped' | 'expired' | 'obsolete' | 'rejected'

/** HintQueueOptions bound the queue and inject its I/O, clock and timer. Durations are milliseconds. */
export interface HintQueueOptions {
  /** capacity: hints pending at most (a new hint past it is dropped and counted). */
  capacity: number
  /** maxBytes: encoded record bytes pending at most (the same drop). */
  maxBytes: number
  /** maxAgeMs: a hint not delivered this long after it was queued expires. */
  maxAgeMs: number
  /** initialBackoffMs: the wait before the first delivery; it doubles after each failed one… */
  initialBackoffMs: number
  /** …up to maxBackoffMs. */
  maxBackoffMs: number
  /** concurrency: deliveries in flight at most. */
  concurrency: number
  /** maxBatch: records per delivery at most. */
  maxBatch: number
  /**
   * maxBatchBytes: encoded record bytes per delivery at most (a lone record may exceed it).
   * Default {@link HINT_BATCH_BYTES}: a node refuses an apply body over MAX_BATCH_BYTES
   * (32 MiB) with TOO_LARGE at every retry, so a batch cut by count alone (256 values of up
   * to 1 MiB) would never be delivered.
   */
  maxBatchBytes?: number
  /** place resolves where a hint for `node` and `key` goes in the router's current map, or undefined when `node` no longer holds the key's shard. */
  place(node: string, key: Buffer): HintPlacement | undefined
  /** deliver sends one batch (an LWW apply, same versions: idempotent) and tells how it ended; it never rejects. */
  deliver(batch: HintBatch): Promise<DeliveryOutcome>
  /** refresh asks for shard `id` to be re-read from etcd after a fenced delivery (fire and forget). */
  refresh(id: number): void
  /** now reads a monotonic clock in ms (performance.now in production): it times backoffs and the age bound, durations only. */
  now(): number
  /** startTimer runs `fn` after `ms` and returns its cancel (an unref'd setTimeout in production). */
  startTimer(fn: () => void, ms: number): () => void
  onEvent?(event: HintEvent, count: number): void
}

/** HINT_BATCH_BYTES bounds one delivery's records (as the router's ApplyBatcher bounds a client batch), well under the node's 32 MiB request limit. */
export const HINT_BATCH_BYTES = 4 * 1024 * 1024

/** HINT_DEFAULTS are the router's defaults: 50 ms doubling to 2 s, for 30 s, 10,000 hints or 64 MiB, 4 deliveries of up to 256 records and 4 MiB in flight. */
export const HINT_DEFAULTS = {capacity: 10_000, maxBytes: 64 * 1024 * 1024, maxAgeMs: 30_000, initialBackoffMs: 50, maxBackoffMs: 2000, concurrency: 4, maxBatch: 256, maxBatchBytes: HINT_BATCH_BYTES} as const

interface Entry extends DueItem {
  /** id: the (node, key) the hint is coalesced by, its key in `pending`. */
  id: string
  node: string
  record: NodeRecord
  bytes: number
  /** queuedAt: when the (newest) record was queued; the hint expires at queuedAt + maxAgeMs. */
  queuedAt: number
  /** due: the earliest time of the next delivery. */
  due: number
  /** seq: when it was put (a put replacing a hint gets a new one): a round takes due hints in this order. */
  seq: number
  /** attempts: failed deliveries so far (sets the backoff). */
  attempts: number
  /**
   * solo: deliver this hint in a batch of its own. A node refuses a whole apply for one bad
   * record (PRECONDITION: older than its tombstone grace), so a batch refused that way is
   * retried one record per delivery: only the record refused alone is final.
   */
  solo?: boolean
}

/**
 * HintQueue retries replica applies that failed while the write reached other replicas
 * (hinted handoff), in the background and off every client's path.
 *
 * - **Idempotent**: a hint re-sends the record with its original version; applies are LWW
 *   merges, so a replica that meanwhile got it (or something newer) keeps what it has.
 * - **Coalesced** per (node, key): a newer version replaces an older pending one (a key
 *   belongs to one shard at a time, so this is per (shard, node, key)); an older one is
 *   ignored.
 * - **Backoff**: the first delivery waits `initialBackoffMs`, each failed one doubles the
 *   wait up to `maxBackoffMs`; a hint still undelivered `maxAgeMs` after it was queued
 *   expires (counted).
 * - **Bounded**: at most `capacity` hints and `maxBytes` record bytes pending; past either
 *   a new hint is dropped (counted), never queued without limit. At most `concurrency`
 *   deliveries of at most `maxBatch` records run at once.
 * - **Fenced**: every delivery re-resolves the hint through `place` from the router's
 *   current map and carries that shard's current epoch. A node that no longer holds the
 *   key's shard (moved away, removed) never gets the record: the hint is dropped as
 *   `obsolete`. A node that refuses the epoch (its map is newer than the router's) makes
 *   the queue ask for a map refresh and retry with backoff; the next delivery re-resolves.
 *
 * Hints live in memory only: a router that stops or dies loses them (read repair,
 * anti-entropy and `shardctl repair` still converge the replica).
 *
 * Cost: pending hints are also held in a min-heap by due time (index-tracked, so a hint
 * replaced, expired, obsolete or sent leaves it at once), so a delivery round costs
 * O(due · log n) whatever the number of hints backing off (up to `capacity`, for a replica
 * that is down), and the timer is armed from the heap's top in O(1). A round still goes
 * through its due hints in put order, as the scan of every pending hint it replaced did.
 */
export class HintQueue {
  /** pending: the hints waiting for a delivery, by (node, key); `byDue` holds the same entries by due time. */
  private readonly pending = new Map<string, Entry>()
  private readonly byDue = new DueHeap<Entry>()
  /** seq: the last Entry.seq given out. */
  private seq = 0
  private bytes = 0
  /** inflight: records in deliveries in flight; deliveries: those deliveries. */
  private inflight = 0
  private deliveries = 0
  private closed = false
  private timer: {at: number; cancel: () => void} | undefined
  private idleWaiters: (() => void)[] = []

  constructor(private readonly opts: HintQueueOptions) {}

  /** add queues `hint` (the record `hint.node` missed); returns false when it was dropped (queue full or closed). */
  add(hint: Hint): boolean {
    const now = this.opts.now()
    const id = `${hint.node}\u0000${hint.record.key.toString('base64')}`
    return this.put({id, node: hint.node, record: hint.record, bytes: encodedRecordSize(hint.record), queuedAt: now, due: now + this.opts.initialBackoffMs, attempts: 0, seq: 0, slot: -1}, true)
  }

  /** size is the number of hints pending or being delivered. */
  get size(): number {
    return this.pending.size + this.inflight
  }

  /** idle resolves once nothing is pending or in flight (for tests and shutdown). */
  idle(): Promise<void> {
    if (this.size === 0) return Promise.resolve()
    return new Promise((resolve) => this.idleWaiters.push(resolve))
  }

  /** close drops every pending hint (counted) and resolves once deliveries in flight have ended. */
  async close(): Promise<void> {
    this.closed = true
    this.timer?.cancel()
    this.timer = undefined
    if (this.pending.size > 0) this.opts.onEvent?.('dropped', this.pending.size)
    this.pending.clear()
    this.byDue.clear()
    this.bytes = 0
    this.notifyIdle()
    await this.idle()
  }

  /** put stores `e`, coalescing with a pending hint of the same (node, key) by version; `fresh` counts it as queued. */
  private put(e: Entry, fresh: boolean): boolean {
    if (this.closed) {
      this.opts.onEvent?.('dropped', 1)
      return false
    }
    const existing = this.pending.get(e.id)
    if (existing) {
      // The newer version wins; a re-queued older one after a failed delivery is simply dropped.
      if (existing.record.version >= e.record.version) {
        if (fresh) this.opts.onEvent?.('queued', 1)
        return true
      }
      // Replacing must not grow the pending bytes past the bound either (small values
      // overwritten by large ones); the older hint stays, the newer is dropped and counted.
      if (this.bytes - existing.bytes + e.bytes > this.opts.maxBytes) {
        this.opts.onEvent?.('dropped', 1)
        return false
      }
      this.remove(existing)
    } else if (this.pending.size >= this.opts.capacity || this.bytes + e.bytes > this.opts.maxBytes) {
      this.opts.onEvent?.('dropped', 1)
      return false
    }
    e.seq = ++this.seq
    this.pending.set(e.id, e)
    this.byDue.push(e)
    this.bytes += e.bytes
    if (fresh) this.opts.onEvent?.('queued', 1)
    this.arm(e.due)
    return true
  }

  /** schedule arms the timer for the earliest due hint (when deliveries can start): the heap's top, O(1). */
  private schedule(): void {
    const first = this.byDue.peek()
    if (this.closed || this.deliveries >= this.opts.concurrency || !first) return
    this.arm(first.due)
  }

  /**
   * arm makes the timer fire by `due` (when deliveries can start), in O(1): put() calls it for
   * every hint, on the turn of the client write that handed it over, so it must not scan the
   * queue (a scan per add cost 10x the CPU per write with a replica down and thousands of
   * hints pending). A timer that fires before anything is due only pumps nothing and re-arms.
   */
  private arm(due: number): void {
    if (this.closed || this.deliveries >= this.opts.concurrency) return
    if (this.timer && this.timer.at <= due) return
    this.timer?.cancel()
    const at = due
    const cancel = this.opts.startTimer(
      () => {
        if (this.timer?.at === at) this.timer = undefined
        this.pump()
      },
      Math.max(0, at - this.opts.now()),
    )
    this.timer = {at, cancel}
  }

  /**
   * pump starts deliveries of the due hints, grouped by (node, shard, epoch), within the
   * concurrency bound. It goes through the due hints ({@link dueInPutOrder}) in the order
   * they were put, as the scan of every pending hint did, so which hints share a batch, or
   * wait for the next round when a batch or the concurrency is full, does not depend on
   * the heap's shape. A hint that waits stays where it is on the heap; one that leaves
   * (sent, expired, obsolete) is removed from it in O(log n).
   */
  private pump(): void {
    const now = this.opts.now()
    const batches = new Map<string, {batch: HintBatch; entries: Entry[]; bytes: number}>()
    const maxBatchBytes = this.opts.maxBatchBytes ?? HINT_BATCH_BYTES
    const ready = this.dueInPutOrder(now)
    for (const e of ready) {
      // Off the heap: replaced meanwhile by a newer version, queued by a callback of this round.
      if (e.slot < 0) continue
      if (now >= e.queuedAt + this.opts.maxAgeMs) {
        this.remove(e)
        this.opts.onEvent?.('expired', 1)
        continue
      }
      const at = this.opts.place(e.node, e.record.key)
      if (!at) {
        this.remove(e)
        this.opts.onEvent?.('obsolete', 1)
        continue
      }
      const bid = e.solo ? `solo/${e.id}` : `${e.node}/${at.shard}/${at.epoch}`
      let b = batches.get(bid)
      if (!b) {
        if (this.deliveries + batches.size >= this.opts.concurrency) continue
        b = {batch: {node: e.node, shard: at.shard, epoch: at.epoch, records: []}, entries: [], bytes: 0}
        batches.set(bid, b)
      }
      // Full: the hint waits for the next pump (as soon as a delivery ends, or at once).
      if (b.entries.length >= this.opts.maxBatch || (b.entries.length > 0 && b.bytes + e.bytes > maxBatchBytes)) continue
      this.remove(e)
      b.batch.records.push(e.record)
      b.entries.push(e)
      b.bytes += e.bytes
    }
    for (const b of batches.values()) this.start(b.batch, b.entries)
    this.schedule()
    this.notifyIdle()
  }

  /**
   * dueInPutOrder returns the hints due at `now` in put order (`seq`): the heap's due
   * subtree, sorted (O(k·log k) for k due). Once more than a sixteenth of the queue is due
   * (a backlog behind a slow replica) a filter of the map, which iterates in put order, is
   * cheaper than the sort: O(n), as the scan was, and at most 16·k.
   */
  private dueInPutOrder(now: number): Entry[] {
    const ready = this.byDue.dueBy(now, this.pending.size / 16)
    if (ready) return ready.sort((a, b) => a.seq - b.seq)
    const all: Entry[] = []
    for (const e of this.pending.values()) if (e.due <= now) all.push(e)
    return all
  }

  /** remove takes pending hint `e` out of the queue: the map, the heap (O(log n)) and the byte count. */
  private remove(e: Entry): void {
    this.pending.delete(e.id)
    this.byDue.remove(e)
    this.bytes -= e.bytes
  }

  private start(batch: HintBatch, entries: Entry[]): void {
    this.inflight += entries.length
    this.deliveries++
    const settle = (outcome: DeliveryOutcome) => {
      this.inflight -= entries.length
      this.deliveries--
      if (outcome === 'rejected' && entries.length > 1) {
        // The node refused the whole batch for (at least) one of its records: retry each alone, at once.
        const now = this.opts.now()
        for (const e of entries) this.put({...e, solo: true, due: now, slot: -1}, false)
      } else if (outcome === 'delivered' || outcome === 'rejected') this.opts.onEvent?.(outcome, entries.length)
      else {
        if (outcome === 'fenced') this.opts.refresh(batch.shard)
        const now = this.opts.now()
        for (const e of entries) {
          const attempts = e.attempts + 1
          const due = now + Math.min(this.opts.maxBackoffMs, this.opts.initialBackoffMs * 2 ** attempts)
          // Due past its age: it would only expire then, so it expires now.
          if (due >= e.queuedAt + this.opts.maxAgeMs) this.opts.onEvent?.('expired', 1)
          else this.put({...e, attempts, due, slot: -1}, false)
        }
      }
      this.schedule()
      this.notifyIdle()
    }
    this.opts.deliver(batch).then(settle, () => settle('retry'))
  }

  private notifyIdle(): void {
    if (this.size === 0) for (const w of this.idleWaiters.splice(0)) w()
  }
}

/**
 * placeHint resolves where a hint for `node` and `key` goes in `table`: the shard that owns
 * the key now, at its current epoch, when `node` is one of that shard's write targets
 * (voter, joining or outgoing; never learning or leaving); undefined otherwise, and then the node must
 * not get the record.
 */
export function placeHint(table: RoutingTable, node: string, key: Buffer): HintPlacement | undefined {
  const shard = table.shardForKey(key)
  if (!shard) return undefined
  if (!writeQuorum(shard).targets.includes(node)) return undefined
  return {shard: shard.id, epoch: shard.epoch}
}
