import {encodedRecordSize} from '../../src/node/recordCodec.js'
import {type NodeRecord} from '../../src/node/protocol.js'
import {type DeliveryOutcome, HINT_BATCH_BYTES, type Hint, type HintBatch, type HintQueueOptions} from '../../src/router/hintQueue.js'

interface Entry {
  node: string
  record: NodeRecord
  bytes: number
  /** queuedAt: when the (newest) record was queued; the hint expires at queuedAt + maxAgeMs. */
  queuedAt: number
  /** due: the earliest time of the next delivery. */
  due: number
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
 * ScanHintQueue is the reference model for HintQueue: the queue as it was before its
 * pending hints were also kept in a heap by due time (src/router/hintQueue.ts at 1c936bc),
 * whose every round scanned all pending hints in put order. Kept as it was (only renamed)
 * so the randomized test in hintQueueHeap.test.ts can check that the heap-backed queue does
 * exactly what it did: the same deliveries at the same times, the same events, the same
 * answers to add(). The contract is HintQueue's.
 */
export class ScanHintQueue {
  private readonly pending = new Map<string, Entry>()
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
    return this.put({node: hint.node, record: hint.record, bytes: encodedRecordSize(hint.record), queuedAt: now, due: now + this.opts.initialBackoffMs, attempts: 0}, true)
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
    const id = `${e.node}\u0000${e.record.key.toString('base64')}`
    const existing = this.pending.get(id)
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
      this.bytes -= existing.bytes
      this.pending.delete(id)
    } else if (this.pending.size >= this.opts.capacity || this.bytes + e.bytes > this.opts.maxBytes) {
      this.opts.onEvent?.('dropped', 1)
      return false
    }
    this.pending.set(id, e)
    this.bytes += e.bytes
    if (fresh) this.opts.onEvent?.('queued', 1)
    this.arm(e.due)
    return true
  }

  /** schedule arms the timer for the earliest due hint (when deliveries can start): a scan of every pending hint, so once per pump or settled delivery, never per hint. */
  private schedule(): void {
    if (this.closed || this.deliveries >= this.opts.concurrency || this.pending.size === 0) return
    let earliest = Infinity
    for (const e of this.pending.values()) if (e.due < earliest) earliest = e.due
    this.arm(earliest)
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

  /** pump starts deliveries of the due hints, grouped by (node, shard, epoch), within the concurrency bound. */
  private pump(): void {
    const now = this.opts.now()
    const batches = new Map<string, {batch: HintBatch; entries: Entry[]; bytes: number}>()
    const maxBatchBytes = this.opts.maxBatchBytes ?? HINT_BATCH_BYTES
    for (const [id, e] of this.pending) {
      if (e.due > now) continue
      if (now >= e.queuedAt + this.opts.maxAgeMs) {
        this.remove(id, e)
        this.opts.onEvent?.('expired', 1)
        continue
      }
      const at = this.opts.place(e.node, e.record.key)
      if (!at) {
        this.remove(id, e)
        this.opts.onEvent?.('obsolete', 1)
        continue
      }
      const bid = e.solo ? `solo/${id}` : `${e.node}/${at.shard}/${at.epoch}`
      let b = batches.get(bid)
      if (!b) {
        if (this.deliveries + batches.size >= this.opts.concurrency) continue
        b = {batch: {node: e.node, shard: at.shard, epoch: at.epoch, records: []}, entries: [], bytes: 0}
        batches.set(bid, b)
      }
      // Full: the hint waits for the next pump (as soon as a delivery ends, or at once).
      if (b.entries.length >= this.opts.maxBatch || (b.entries.length > 0 && b.bytes + e.bytes > maxBatchBytes)) continue
      this.remove(id, e)
      b.batch.records.push(e.record)
      b.entries.push(e)
      b.bytes += e.bytes
    }
    for (const b of batches.values()) this.start(b.batch, b.entries)
    this.schedule()
    this.notifyIdle()
  }

  private remove(id: string, e: Entry): void {
    this.pending.delete(id)
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
        for (const e of entries) this.put({...e, solo: true, due: now}, false)
      } else if (outcome === 'delivered' || outcome === 'rejected') this.opts.onEvent?.(outcome, entries.length)
      else {
        if (outcome === 'fenced') this.opts.refresh(batch.shard)
        const now = this.opts.now()
        for (const e of entries) {
          const attempts = e.attempts + 1
          const due = now + Math.min(this.opts.maxBackoffMs, this.opts.initialBackoffMs * 2 ** attempts)
          // Due past its age: it would only expire then, so it expires now.
          if (due >= e.queuedAt + this.opts.maxAgeMs) this.opts.onEvent?.('expired', 1)
          else this.put({...e, attempts, due}, false)
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
