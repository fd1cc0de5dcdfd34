import {type MemoryState} from './memoryState.js'
import {type Watch, type WatchOptions} from './store.js'

/** DropOptions: how a {@link MemoryWatch} loses its stream. */
export interface DropOptions {
  /** afterEvents: deliver this many more events first (the drop lands between two revisions); default 0. */
  afterEvents?: number
  /** stayDown: stay disconnected until {@link MemoryWatch.reconnect} (default: reconnect on the next microtask). */
  stayDown?: boolean
}

/**
 * MemoryWatch is a watch on a {@link MemoryState}: it delivers the logged events under its
 * prefix after its start revision, a whole revision at a time, on microtasks (never inside
 * the write that caused them). When dropped it goes 'disconnected' and, on reconnect,
 * resumes from the revision after the last event it delivered, replaying what it missed;
 * when that revision was compacted it calls `resync` and goes on from the revision that
 * returns. A failed resync leaves it disconnected until the next commit or reconnect (no timers).
 */
export class MemoryWatch implements Watch {
  private last: bigint
  /** seen: the store revision this watch has examined up to, delivered or not (a synced watcher survives compaction). */
  private seen: bigint
  private connected = false
  private closed = false
  private scheduled = false
  private resyncing = false
  private dropAfter?: {events: number; stayDown: boolean}
  private readonly onCommit = () => this.schedule()

  constructor(
    private readonly state: MemoryState,
    readonly prefix: string,
    private readonly opts: WatchOptions,
    private readonly onClose: (w: MemoryWatch) => void,
  ) {
    this.last = opts.fromRevision
    this.seen = opts.fromRevision
    state.onCommit.add(this.onCommit)
    queueMicrotask(() => this.connect())
  }

  /** lastRevision: see {@link Watch.lastRevision}. */
  lastRevision(): bigint {
    return this.last
  }

  /** close stops delivery at once; no callback runs afterwards. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    this.state.onCommit.delete(this.onCommit)
    this.onClose(this)
  }

  /** drop cuts the stream (now, or after `afterEvents` more events); see {@link DropOptions}. */
  drop(opts: DropOptions = {}): void {
    if (this.closed) return
    if (opts.afterEvents && opts.afterEvents > 0) {
      this.dropAfter = {events: opts.afterEvents, stayDown: opts.stayDown ?? false}
      return
    }
    this.disconnect(opts.stayDown ?? false)
  }

  /** reconnect brings a dropped (or failed-resync) watch back: it resumes after its last delivered event. */
  reconnect(): void {
    if (!this.closed && !this.connected) this.connect()
  }

  private disconnect(stayDown: boolean): void {
    if (!this.connected) return
    this.connected = false
    this.opts.onStatus?.('disconnected')
    if (!stayDown) queueMicrotask(() => this.connect())
  }

  private connect(): void {
    if (this.closed || this.connected || this.resyncing) return
    // Like etcd: a stream resumes at last + 1; if that revision was compacted the events in
    // between are gone for good, so the caller re-reads (resync) and we go on from its read.
    if (this.last + 1n < this.state.compactRevision) {
      void this.resync()
      return
    }
    this.connected = true
    this.seen = this.last
    this.opts.onStatus?.('connected')
    this.schedule()
  }

  private async resync(): Promise<void> {
    this.resyncing = true
    this.opts.onStatus?.('resyncing')
    try {
      const rev = await this.opts.resync()
      this.last = rev
      this.seen = rev
    } catch {
      // Stay down; the next commit or reconnect() tries again.
      return
    } finally {
      this.resyncing = false
    }
    this.connect()
  }

  private schedule(): void {
    if (this.closed) return
    if (!this.connected) {
      // A watch left down by a failed resync retries on activity, not on a timer.
      if (!this.resyncing && this.last + 1n < this.state.compactRevision) this.connect()
      return
    }
    if (this.scheduled) return
    this.scheduled = true
    queueMicrotask(() => {
      this.scheduled = false
      this.flush()
    })
  }

  private flush(): void {
    if (this.closed || !this.connected) return
    if (this.seen + 1n < this.state.compactRevision) {
      // Compacted past what this watch had examined: it cannot catch up from the log.
      this.connected = false
      void this.resync()
      return
    }
    const log = this.state.log
    let i = 0
    while (i < log.length && log[i]!.revision <= this.seen) i++
    while (i < log.length) {
      const rev = log[i]!.revision
      let delivered = 0
      for (; i < log.length && log[i]!.revision === rev; i++) {
        const ev = log[i]!
        if (!ev.key.startsWith(this.prefix) || rev <= this.last) continue
        this.opts.onEvent({type: ev.type, key: ev.key, value: ev.value, modRevision: rev})
        delivered++
        if (this.closed) return
      }
      this.seen = rev
      if (delivered > 0) this.last = rev
      if (this.dropAfter && delivered > 0) {
        this.dropAfter.events -= delivered
        if (this.dropAfter.events <= 0) {
          const {stayDown} = this.dropAfter
          this.dropAfter = undefined
          this.disconnect(stayDown)
          return
        }
      }
      if (!this.connected) return
    }
  }
}
