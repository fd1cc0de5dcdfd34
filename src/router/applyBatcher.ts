import {type RequestOptions} from '../node/nodeClient.js'
import {NodeRequestError} from '../node/nodeRequestError.js'
import {type ApplyKind, type ApplyResponse, type GetResult, type NodeRecord} from '../node/protocol.js'
import {encodedRecordSize} from '../node/recordCodec.js'
import {type NodeDataApi} from './coordinator.js'

/** ApplyBatcherOptions bound one batch. */
export interface ApplyBatcherOptions {
  maxRecords: number
  maxBytes: number
  /** schedule runs the flush after the current burst of work (setImmediate in production). */
  schedule?: (fn: () => void) => void
  /** node names the target in a caller's own timeout error. */
  node?: string
  /** now reads a monotonic clock in ms (performance.now in production; injected by tests). */
  now?: () => number
  /** startTimer runs `fn` after `ms` and returns its cancel (setTimeout, unref'd, in production). */
  startTimer?: (fn: () => void, ms: number) => () => void
}

interface Waiter {
  /** offset and count locate the caller's records in the batch. */
  offset: number
  count: number
  resolve: (r: ApplyResponse) => void
  reject: (e: unknown) => void
  /** deadline on the `now` clock, when the caller gave a timeout. */
  deadline?: number
  cancelTimer?: () => void
  /** settled: already rejected by its own deadline. */
  settled?: boolean
}

interface Pending {
  shard: number
  epoch: number
  kind: ApplyKind
  records: NodeRecord[]
  bytes: number
  waiters: Waiter[]
}

/**
 * ApplyBatcher coalesces the applies to one node that arrive in the same turn of the event
 * loop for the same (shard, epoch, kind) into one request — the router's group commit:
 * under concurrency many client writes share one HTTP round trip and one durable commit on
 * the node, and a lone write waits for nothing but the end of the current turn. Every
 * caller gets the batch's outcome for its own records: the response with `superseded`
 * (and `expired`, `deletePriors`) narrowed to its records (re-indexed from 0), or the batch's error (a STALE_EPOCH refusal
 * concerns every record of the batch alike, since they share shard and epoch). Applies are
 * LWW merges, so batching never changes what a replica ends up holding. Reads pass through.
 *
 * Timeouts are per caller: each keeps its own deadline (a caller whose deadline passes gets
 * NODE_UNREACHABLE with `timedOut` while the batch goes on for the others), and the request's
 * own timeout is the latest of its callers' remaining times (the target's default when a
 * caller gave none), so a nearly-expired write never shortens its batch-mates' timeout.
 */
export class ApplyBatcher implements NodeDataApi {
  private readonly pending = new Map<string, Pending>()
  private readonly schedule: (fn: () => void) => void
  private readonly now: () => number
  private readonly startTimer: (fn: () => void, ms: number) => () => void

  constructor(
    private readonly target: NodeDataApi,
    private readonly opts: ApplyBatcherOptions,
  ) {
    this.schedule = opts.schedule ?? ((fn) => setImmediate(fn))
    this.now = opts.now ?? (() => performance.now())
    this.startTimer =
      opts.startTimer ??
      ((fn, ms) => {
        const t = setTimeout(fn, ms)
        t.unref()
        return () => clearTimeout(t)
      })
  }

  /** get is the target's get. */
  get(shard: number, epoch: number, key: Buffer, opts?: RequestOptions): Promise<GetResult> {
    return this.target.get(shard, epoch, key, opts)
  }

  /** apply queues `records` into the open batch of (shard, epoch, kind), sending it at the end of this turn or when full. */
  apply(shard: number, epoch: number, records: readonly NodeRecord[], kind: ApplyKind = 'write', opts: RequestOptions = {}): Promise<ApplyResponse> {
    if (opts.signal) return this.target.apply(shard, epoch, records, kind, opts)
    const id = `${shard}/${epoch}/${kind}`
    const bytes = records.reduce((a, r) => a + encodedRecordSize(r), 0)
    let p = this.pending.get(id)
    if (p && (p.records.length + records.length > this.opts.maxRecords || p.bytes + bytes > this.opts.maxBytes)) {
      this.flush(id)
      p = undefined
    }
    if (!p) {
      p = {shard, epoch, kind, records: [], bytes: 0, waiters: []}
      this.pending.set(id, p)
      const mine = p
      this.schedule(() => {
        if (this.pending.get(id) === mine) this.flush(id)
      })
    }
    const offset = p.records.length
    p.records.push(...records)
    p.bytes += bytes
    const batch = p
    return new Promise((resolve, reject) => {
      const w: Waiter = {offset, count: records.length, resolve, reject}
      if (opts.timeoutMs !== undefined) {
        const ms = opts.timeoutMs
        w.deadline = this.now() + ms
        w.cancelTimer = this.startTimer(() => {
          w.settled = true
          reject(new NodeRequestError('NODE_UNREACHABLE', `node ${this.opts.node ?? '?'}: timed out after ${ms} ms`, this.opts.node ?? '', 0, undefined, {timedOut: true}))
        }, ms)
      }
      batch.waiters.push(w)
    })
  }

  /** requestTimeout: the latest remaining deadline of `waiters`, or undefined (the target's default) when one has none. */
  private requestTimeout(waiters: readonly Waiter[]): number | undefined {
    let latest = 0
    for (const w of waiters) {
      if (w.deadline === undefined) return undefined
      latest = Math.max(latest, w.deadline)
    }
    return Math.max(1, Math.ceil(latest - this.now()))
  }

  private flush(id: string): void {
    const p = this.pending.get(id)
    if (!p) return
    this.pending.delete(id)
    const timeoutMs = this.requestTimeout(p.waiters)
    const settle = (fn: (w: Waiter, i: number) => void) => {
      p.waiters.forEach((w, i) => {
        w.cancelTimer?.()
        if (!w.settled) fn(w, i)
      })
    }
    this.target.apply(p.shard, p.epoch, p.records, p.kind, timeoutMs === undefined ? {} : {timeoutMs}).then(
      (r) => {
        const mine = p.waiters.length === 1 ? [r] : sliceResponses(r, p.waiters)
        settle((w, i) => w.resolve(mine[i]!))
      },
      // Every caller gets the target's error object itself, so what it says about the
      // request (code, nodeEpoch, timedOut, cause) reaches each caller unchanged.
      (err: unknown) => settle((w) => w.reject(err)),
    )
  }
}

/**
 * sliceResponses narrows a batch's response to each caller's records: `superseded`,
 * `expired` and `deletePriors` re-indexed to the caller's own. One pass over the entries
 * (each placed by its record's owner), not one per caller: a batch of deletes has an entry
 * per record.
 */
function sliceResponses(r: ApplyResponse, waiters: readonly Waiter[]): ApplyResponse[] {
  // The callers' records lie back to back in the batch, in the callers' order: record i is its owner's.
  const ownerOf = new Int32Array(waiters.reduce((n, w) => n + w.count, 0))
  waiters.forEach((w, j) => ownerOf.fill(j, w.offset, w.offset + w.count))
  const owner = (i: number): number => (i >= 0 && i < ownerOf.length ? ownerOf[i]! : -1)
  const split = <T>(entries: readonly T[] | undefined, indexOf: (e: T) => number, reindex: (e: T, offset: number) => T): T[][] | undefined => {
    if (!entries) return undefined
    const out: T[][] = waiters.map(() => [])
    for (const e of entries) {
      const j = owner(indexOf(e))
      if (j >= 0) out[j]!.push(reindex(e, waiters[j]!.offset))
    }
    return out
  }
  const superseded = split(r.superseded, (s) => s.i, (s, off) => ({i: s.i - off, version: s.version}))
  const expired = split(r.expired, (i) => i, (i, off) => i - off)
  const deletePriors = split(r.deletePriors, (p) => p.i, (p, off) => ({...p, i: p.i - off}))
  return waiters.map((_, j) => {
    const out: ApplyResponse = {...r}
    if (superseded) out.superseded = superseded[j]!
    if (expired) out.expired = expired[j]!
    if (deletePriors) out.deletePriors = deletePriors[j]!
    return out
  })
}
