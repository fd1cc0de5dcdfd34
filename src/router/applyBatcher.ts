import {type RequestOptions} from '../node/nodeClient.js'
import {type ApplyKind, type ApplyResponse, type GetResult, type NodeRecord} from '../node/protocol.js'
import {encodedRecordSize} from '../node/recordCodec.js'
import {type NodeDataApi} from './coordinator.js'

/** ApplyBatcherOptions bound one batch. */
export interface ApplyBatcherOptions {
  maxRecords: number
  maxBytes: number
  /** schedule runs the flush after the current burst of work (setImmediate in production). */
  schedule?: (fn: () => void) => void
}

interface Pending {
  shard: number
  epoch: number
  kind: ApplyKind
  records: NodeRecord[]
  bytes: number
  timeoutMs?: number
  waiters: {resolve: (r: ApplyResponse) => void; reject: (e: unknown) => void}[]
}

/**
 * ApplyBatcher coalesces the applies to one node that arrive in the same turn of the event
 * loop for the same (shard, epoch, kind) into one request — the router's group commit:
 * under concurrency many client writes share one HTTP round trip and one durable commit on
 * the node, and a lone write waits for nothing but the end of the current turn. Every
 * caller gets the batch's outcome: its response, or its error (a STALE_EPOCH refusal
 * concerns every record of the batch alike, since they share shard and epoch). Applies are
 * LWW merges, so batching never changes what a replica ends up holding. Reads pass through.
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
      p = {shard, epoch, kind, records: [], bytes: 0, timeoutMs: opts.timeoutMs, waiters: []}
      this.pending.set(id, p)
      const mine = p
      this.schedule(() => {
        if (this.pending.get(id) === mine) this.flush(id)
      })
    }
    p.records.push(...records)
    p.bytes += bytes
    if (opts.timeoutMs !== undefined) p.timeoutMs = Math.min(p.timeoutMs ?? opts.timeoutMs, opts.timeoutMs)
    return new Promise((resolve, reject) => p.waiters.push({resolve, reject}))
  }

  private flush(id: string): void {
    const p = this.pending.get(id)
    if (!p) return
    this.pending.delete(id)
    this.target.apply(p.shard, p.epoch, p.records, p.kind, p.timeoutMs === undefined ? {} : {timeoutMs: p.timeoutMs}).then(
      (r) => {
        for (const w of p.waiters) w.resolve(r)
      },
      (err: unknown) => {
        for (const w of p.waiters) w.reject(err)
      },
    )
  }
}
