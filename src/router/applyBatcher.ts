import {type RequestOptions} from '../node/nodeClient.js'
import {type ApplyKind, type ApplyResponse, type GetResult, type NodeRecord} from '../node/protocol.js'
import {NodeRequestError} from '../node/nodeRequestError.js'
import {encodedRecordSize} from '../node/recordCodec.js'
import {type NodeDataApi} from './coordinator.js'

/** ApplyBatcherOptions bound one batch. */
export interface ApplyBatcherOptions {
  maxRecords: number
  maxBytes: number
  /** schedule runs the flush after the current burst of work (setImmediate in production). */
  schedule?: (fn: () => void) => void
  /** node names the target in the timeout error a caller gets at its own deadline. */
  node?: string
}

interface Waiter {
  /** offset and count locate the caller's records in the batch. */
  offset: number
  count: number
  timeoutMs?: number
  resolve: (r: ApplyResponse) => void
  reject: (e: unknown) => void
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
 * and `expired` narrowed to its records (re-indexed from 0), or the batch's error (a STALE_EPOCH refusal
 * concerns every record of the batch alike, since they share shard and epoch). The batch
 * request waits as long as its most patient caller; a caller with a shorter timeoutMs is
 * rejected (NODE_UNREACHABLE, "timed out") at its own deadline. Applies are LWW merges,
 * so batching never changes what a replica ends up holding. Reads pass through.
 */
export class ApplyBatcher implements NodeDataApi {
  private readonly pending = new Map<string, Pending>()
  private readonly schedule: (fn: () => void) => void

  constructor(
    private readonly target: NodeDataApi,
    private readonly opts: ApplyBatcherOptions,
  ) {
    this.schedule = opts.schedule ?? ((fn) => setImmediate(fn))
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
    return new Promise((resolve, reject) => batch.waiters.push({offset, count: records.length, timeoutMs: opts.timeoutMs, resolve, reject}))
  }

  private flush(id: string): void {
    const p = this.pending.get(id)
    if (!p) return
    this.pending.delete(id)
    // The request waits as long as its most patient caller (one nearly-expired write must not
    // cut the others short); a less patient caller is answered at its own deadline.
    const timeoutMs = p.waiters.some((w) => w.timeoutMs === undefined) ? undefined : Math.max(...p.waiters.map((w) => w.timeoutMs!))
    const timers = p.waiters.map((w) =>
      timeoutMs !== undefined && w.timeoutMs !== undefined && w.timeoutMs < timeoutMs
        ? setTimeout(() => w.reject(new NodeRequestError('NODE_UNREACHABLE', `node ${this.opts.node ?? '?'}: timed out after ${w.timeoutMs} ms`, this.opts.node ?? '?', 0)), w.timeoutMs)
        : undefined,
    )
    const settled = () => timers.forEach((t) => t && clearTimeout(t))
    this.target.apply(p.shard, p.epoch, p.records, p.kind, timeoutMs === undefined ? {} : {timeoutMs}).then(
      (r) => {
        settled()
        for (const w of p.waiters) w.resolve(p.waiters.length === 1 ? r : sliceResponse(r, w))
      },
      (err: unknown) => {
        settled()
        for (const w of p.waiters) w.reject(err)
      },
    )
  }
}

/** sliceResponse narrows a batch's response to one caller's records: `superseded` and `expired` re-indexed to the caller's own. */
function sliceResponse(r: ApplyResponse, w: Waiter): ApplyResponse {
  const mine = (i: number) => i >= w.offset && i < w.offset + w.count
  const out: ApplyResponse = {...r}
  if (r.superseded) out.superseded = r.superseded.filter((s) => mine(s.i)).map((s) => ({i: s.i - w.offset, version: s.version}))
  if (r.expired) out.expired = r.expired.filter(mine).map((i) => i - w.offset)
  return out
}
