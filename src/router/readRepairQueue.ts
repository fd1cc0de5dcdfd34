import {type NodeRecord} from '../node/protocol.js'

/** RepairTask is one stale replica to bring up to the newest record a read saw. */
export interface RepairTask {
  shard: number
  epoch: number
  node: string
  record: NodeRecord
}

/** RepairOutcome is how one repair ended, for metrics. */
export type RepairOutcome = 'applied' | 'failed' | 'dropped'

/** ReadRepairQueueOptions bound the queue: pending tasks and repairs running at once. */
export interface ReadRepairQueueOptions {
  capacity: number
  concurrency: number
  /** apply performs one repair (an LWW apply of kind `repair`); rejects on failure. */
  apply: (task: RepairTask) => Promise<void>
  onOutcome?: (outcome: RepairOutcome, task: RepairTask) => void
}

/**
 * ReadRepairQueue runs read repairs in the background, off the client's path, with
 * bounded memory and concurrency: when `capacity` tasks are pending a new one is dropped
 * (counted), never queued without limit. A failed repair is not retried: the next read or
 * `shardctl repair` catches the replica up (LWW makes every repair idempotent). A task for
 * the same (shard, node, key) as a pending one replaces it when newer, in its place in line.
 *
 * Why this is not a HintQueue (hintQueue.ts), though both send a replica a record it lacks:
 * a repair is one-shot, starts at once, goes alone as an apply of kind `repair` at the read's
 * epoch, and its failure is final; a hint waits, is retried with backoff until it expires,
 * is batched per (node, shard, epoch), is re-placed on the current map at every delivery and
 * is a `write` replay, bounded by bytes too. What the two share is a version-coalescing map
 * and idle/close bookkeeping, a dozen lines: one queue for both would need a switch for each
 * of those differences, and read repair would take on a timer and a heap for nothing.
 */
export class ReadRepairQueue {
  private readonly pending = new Map<string, RepairTask>()
  private running = 0
  private closed = false
  private idleWaiters: (() => void)[] = []

  constructor(private readonly opts: ReadRepairQueueOptions) {}

  /** enqueue schedules `task`; returns false when it was dropped (queue full or closed). */
  enqueue(task: RepairTask): boolean {
    if (this.closed) return this.drop(task)
    const id = `${task.shard}\u0000${task.node}\u0000${task.record.key.toString('base64')}`
    const existing = this.pending.get(id)
    if (existing) {
      if (existing.record.version < task.record.version) this.pending.set(id, task)
      return true
    }
    if (this.pending.size >= this.opts.capacity) return this.drop(task)
    this.pending.set(id, task)
    this.pump()
    return true
  }

  /** size is the number of tasks waiting (not running). */
  get size(): number {
    return this.pending.size
  }

  /** idle resolves once nothing is pending or running (for tests and shutdown). */
  idle(): Promise<void> {
    if (this.pending.size === 0 && this.running === 0) return Promise.resolve()
    return new Promise((resolve) => this.idleWaiters.push(resolve))
  }

  /** close drops every pending task and resolves when running repairs have finished. */
  async close(): Promise<void> {
    this.closed = true
    for (const t of this.pending.values()) this.drop(t)
    this.pending.clear()
    await this.idle()
  }

  private drop(task: RepairTask): false {
    this.opts.onOutcome?.('dropped', task)
    return false
  }

  private pump(): void {
    while (this.running < this.opts.concurrency && this.pending.size > 0) {
      const [id, task] = this.pending.entries().next().value as [string, RepairTask]
      this.pending.delete(id)
      this.running++
      Promise.resolve()
        .then(() => this.opts.apply(task))
        .then(
          () => this.opts.onOutcome?.('applied', task),
          () => this.opts.onOutcome?.('failed', task),
        )
        .finally(() => {
          this.running--
          this.pump()
          if (this.pending.size === 0 && this.running === 0) for (const w of this.idleWaiters.splice(0)) w()
        })
    }
  }
}
