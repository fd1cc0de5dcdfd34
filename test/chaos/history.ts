import {dataPlaneFetch} from '../support/dataPlaneFetch.js'

/**
 * HistoryOp is one client operation as a Jepsen-style history entry: when it was invoked
 * and completed (ms on one monotonic clock), what it asked, and how it ended.
 * - `ok`: the router acknowledged it (write 2xx; read 200 or 404).
 * - `fail`: it certainly had no effect (a read that failed; a write refused before routing, 4xx).
 * - `unknown`: a write whose outcome is unknown (connection reset, timeout, 5xx): it may or
 *   may not be visible later; the checker never requires it, but accepts reading it.
 */
export interface HistoryOp {
  id: number
  worker: number
  key: string
  kind: 'write' | 'read'
  /** value is what a write wrote (null: a DELETE), or what a read returned (200 only). */
  value: string | null
  invoke: number
  complete: number
  outcome: 'ok' | 'fail' | 'unknown'
  /** status is the HTTP status (0: no response). */
  status: number
  /** version is the `x-shardctl-version` the router returned (the record's HLC), if any. */
  version: string | null
  router: string
}

/** ChaosWorkloadOptions bound one workload in workers, operations and time. */
export interface ChaosWorkloadOptions {
  /** routers to talk to; a worker moves to the next one after a connection error or 5xx. */
  routers: () => string[]
  workers: number
  keysPerWorker: number
  maxOps: number
  maxMs: number
  stop: AbortSignal
  /** requestTimeoutMs bounds one HTTP request (default 8 s). */
  requestTimeoutMs?: number
  /** deleteEvery: every n-th write is a DELETE (default: none). */
  deleteEvery?: number
  /** routerPerOp: each operation goes to a router drawn at random (seeded), so one key's writes cross routers, not only after a failure. */
  routerPerOp?: boolean
  /**
   * pattern: `registers` (default) cycles each worker over its keys, two writes per read;
   * `delete-churn` gives each worker a fresh key every four operations — PUT, PUT, DELETE,
   * then a GET of one of its earlier (deleted) keys — so deletes pile up, stay deleted for
   * the rest of the run and keep being read back.
   */
  pattern?: 'registers' | 'delete-churn'
  /** keyPrefix goes before every key (default none): workloads run one after another on one cluster keep their histories apart. */
  keyPrefix?: string
}

/** ChaosHistory is what a workload recorded: every operation, in completion order. */
export interface ChaosHistory {
  ops: HistoryOp[]
  /** failovers counts how often a worker switched router after an error. */
  failovers: number
}

const now = (): number => performance.timeOrigin + performance.now()

/**
 * runHistoryWorkload drives `workers` sequential clients; worker w owns keys `w<w>-k<i>`
 * and writes a unique value per attempt (`w<w>-s<seq>`), two writes for each read, until
 * `stop` fires or `maxOps` / `maxMs` is reached (with `deleteEvery`, some writes are DELETEs:
 * recorded as writes of `value: null`). A failed attempt is recorded, then the
 * worker fails over to the next router and goes on with a NEW operation (a retried write
 * gets a new value, so every value in the history names exactly one write).
 */
export async function runHistoryWorkload(opts: ChaosWorkloadOptions): Promise<ChaosHistory> {
  const history: ChaosHistory = {ops: [], failovers: 0}
  const deadline = Date.now() + opts.maxMs
  let nextId = 0
  const worker = async (w: number) => {
    let seq = 0
    let routerIdx = w
    let rng = 1 + w
    while (!opts.stop.aborted && Date.now() < deadline && nextId < opts.maxOps) {
      const routers = opts.routers()
      const router = routers[routerIdx % routers.length]!
      const step = churnStep(opts.pattern === 'delete-churn', w, seq, opts.keysPerWorker, opts.deleteEvery)
      const {kind} = step
      const key = (opts.keyPrefix ?? '') + step.key
      seq++
      // A seeded draw, not a rotation: with keys and routers both cycling, one key would always meet the same router.
      if (opts.routerPerOp) routerIdx = Math.floor((rng = (rng * 48271) % 2147483647) / 2147483647 * 1_000_000)
      const value = kind === 'write' && !step.del ? `w${w}-s${seq}-${'v'.repeat(48)}` : null
      const op: HistoryOp = {id: nextId++, worker: w, key, kind, value, invoke: now(), complete: 0, outcome: 'unknown', status: 0, version: null, router}
      try {
        const method = kind === 'read' ? 'GET' : step.del ? 'DELETE' : 'PUT'
        const res = await dataPlaneFetch(router, `/kv/${encodeURIComponent(key)}`, {method, body: value ?? undefined, signal: AbortSignal.timeout(opts.requestTimeoutMs ?? 8000)})
        const body = Buffer.from(await res.arrayBuffer())
        op.status = res.status
        op.version = res.headers.get('x-shardctl-version')
        if (kind === 'write') op.outcome = res.status >= 200 && res.status < 300 ? 'ok' : res.status >= 400 && res.status < 500 && res.status !== 408 ? 'fail' : 'unknown'
        else {
          op.outcome = res.status === 200 || res.status === 404 ? 'ok' : 'fail'
          if (res.status === 200) op.value = body.toString()
        }
      } catch {
        op.outcome = kind === 'write' ? 'unknown' : 'fail'
      }
      op.complete = now()
      history.ops.push(op)
      if (op.outcome !== 'ok') {
        history.failovers++
        routerIdx++
        // A short pause so a dead router does not turn into a hot loop of refused connections.
        await new Promise((r) => setTimeout(r, 50))
      }
    }
  }
  await Promise.all(Array.from({length: opts.workers}, (_, w) => worker(w)))
  return history
}

/** churnStep picks worker `w`'s operation number `seq` (see ChaosWorkloadOptions.pattern). */
export function churnStep(churn: boolean, w: number, seq: number, keysPerWorker: number, deleteEvery?: number): {key: string; kind: 'write' | 'read'; del: boolean} {
  if (!churn) {
    const kind = seq % 3 === 2 ? 'read' : 'write'
    return {key: `w${w}-k${seq % keysPerWorker}`, kind, del: kind === 'write' && deleteEvery !== undefined && seq % (3 * deleteEvery) === deleteEvery * 3 - 2}
  }
  const i = Math.floor(seq / 4)
  const phase = seq % 4
  // The read-back scatters over the earlier (deleted) keys with a multiplicative hash, so old and
  // recent deletes, on any shard, are both read. (It was `(i * 7919) % i`, which is 0 for every
  // i: every read-back read the worker's first key, deleted before any move began.)
  if (phase === 3) return {key: `w${w}-d${i === 0 ? 0 : (Math.imul(i, 0x9e3779b1) >>> 0) % i}`, kind: 'read', del: false}
  return {key: `w${w}-d${i}`, kind: 'write', del: phase === 2}
}

/** FinalRead is what a key reads as after the run and repair (through a router, quorum read). */
export interface FinalRead {
  status: number
  value: string | null
  version: string | null
}

/** readFinal reads every key of `keys` through `router` (bounded retries per key). */
export async function readFinal(router: string, keys: Iterable<string>): Promise<Map<string, FinalRead>> {
  const out = new Map<string, FinalRead>()
  for (const key of keys) {
    let last: FinalRead = {status: 0, value: null, version: null}
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        const res = await dataPlaneFetch(router, `/kv/${encodeURIComponent(key)}`, {signal: AbortSignal.timeout(8000)})
        const body = Buffer.from(await res.arrayBuffer())
        last = {status: res.status, value: res.status === 200 ? body.toString() : null, version: res.headers.get('x-shardctl-version')}
        if (res.status === 200 || res.status === 404) break
      } catch {
        // retried below
      }
      await new Promise((r) => setTimeout(r, 300))
    }
    out.set(key, last)
  }
  return out
}
