import {Pool, errors as undiciErrors} from 'undici'
import {type z} from 'zod'
import {ERROR_CODES, type ErrorCode} from '../errors/codes.js'
import {type HashRange} from '../model/range.js'
import {NodeRequestError} from './nodeRequestError.js'
import {
  type AcceptResponse,
  AcceptResponseSchema,
  type ApplyKind,
  type ApplyResponse,
  ApplyResponseSchema,
  BUCKETS_ANSWERED_HEADER,
  CURSOR_HEADER,
  type DigestResponse,
  DigestResponseSchema,
  type GcConfirmResponse,
  GcConfirmResponseSchema,
  type GcPurgeResponse,
  GcPurgeResponseSchema,
  type DropResponse,
  DropResponseSchema,
  EPOCH_HEADER,
  ErrorBodySchema,
  type GetResult,
  type HealthResponse,
  HealthResponseSchema,
  type InflightResponse,
  InflightResponseSchema,
  type NodeRecord,
  type NodeStatusResponse,
  NodeStatusResponseSchema,
  type PullRequest,
  type PullStatusResponse,
  PullStatusResponseSchema,
  StreamRateResponseSchema,
  type ThrottleRequest,
  ThrottleRequestSchema,
  RECORD_HEADER,
  RECORDS_CONTENT_TYPE,
  REPLAY_PARAM,
  KEPT_FOR_PARAM,
  type SnapshotChunk,
  TOKEN_HEADER,
  NODE_HEADER,
  VERSION_HEADER,
} from './protocol.js'
import {bucketAnswerOrder} from './bucketListing.js'
import {CopyFrameError} from './copyFrames.js'
import {GC_FLOORS_HEADER, parseGcFloors} from './gcFloorsHeader.js'
import {type GcFloor} from './lwwSql.js'
import {errorMessage} from '../errors/errors.js'
import {decodeRecords, encodeRecords} from './recordCodec.js'
import {RECORD_HASH_FORMAT} from './recordHash.js'
import {type StreamPace} from './streamPaces.js'
import {dataPlaneUrl, defaultClientTls, describeTlsFailure, tlsConnectOptions} from '../transport/clientTls.js'
import {type TlsMaterial} from '../transport/tlsMaterial.js'

/**
 * NODE_REQUEST_TIMEOUT_MS is how long a request to a node may take end to end when neither
 * the client nor the call sets a bound: one value, so what dials on another thread's
 * behalf (NodeClients.peerSettings) waits as long as the pools it stands for.
 */
export const NODE_REQUEST_TIMEOUT_MS = 5000

/** NodeClientOptions configures one node's connection pool. */
export interface NodeClientOptions {
  /** node is the node id, for error messages. */
  node: string
  /** address is `host:port`. */
  address: string
  /** token is the cluster token (never logged). */
  token: string
  /** connections caps the keep-alive pool (default 16). */
  connections?: number
  /** timeoutMs bounds every request end to end unless the call passes its own (default NODE_REQUEST_TIMEOUT_MS). */
  timeoutMs?: number
  /** keepAliveMs is how long an idle connection stays open (default 30 s; the node closes its side after 65 s). */
  keepAliveMs?: number
  /**
   * observe, when set, is told about every finished request: the node, the operation
   * (`get`, `apply`, `snapshot`, … from the path), its duration and its outcome (`ok` or
   * the error code). The router feeds its per-upstream metrics from it.
   */
  observe?: (node: string, op: string, seconds: number, outcome: string) => void
  /**
   * tls: dial the node over mutual TLS with this CA and certificate (default: the process's,
   * see setDefaultClientTls; none: plaintext).
   */
  tls?: TlsMaterial
}

/** RequestOptions are per-call overrides. */
export interface RequestOptions {
  timeoutMs?: number
  signal?: AbortSignal
}

/**
 * KeptCopyOptions name the move whose kept copy a read is of ({@link KEPT_FOR_PARAM}): the
 * destination's copy of a range it no longer holds a role in, kept while the move's source is
 * down (src/executor/keptCopyRepair.ts). The node answers only while that move record says
 * so (moveCopyHolds.ts keptCopyRefusal); without it, a node with no role answers NOT_OWNER.
 */
export interface KeptCopyOptions {
  keptFor?: string
}

/** BucketRecordsOptions are a bucket listing's per-call overrides. */
export interface BucketRecordsOptions extends RequestOptions, KeptCopyOptions {
  /** maxBytes bounds the answer at whole buckets (see BucketsRequestSchema; e.g. BUCKET_LISTING_BYTES). */
  maxBytes?: number
}

/** BucketRecords is a bucket listing: the records of the `answered` buckets, all of them. */
export interface BucketRecords {
  records: NodeRecord[]
  /** answered are the buckets `records` cover completely, ascending: a prefix of the asked ones, distinct and sorted. */
  answered: number[]
}

/** ApplyOptions are an apply's per-call overrides. */
export interface ApplyOptions extends RequestOptions {
  /** replay marks the records as a replay of client writes (hinted handoff, `replay=1`): applied alike, not counted as client load (see countsAsClientWrite). */
  replay?: boolean
}

/** SnapshotOptions select a page of a shard's range snapshot. */
export interface SnapshotOptions extends RequestOptions {
  /** range restricts the snapshot to a sub-range of the shard (default: the shard's whole range). */
  range?: HashRange
  /** cursor resumes after the previous chunk (its `cursor`). */
  cursor?: string
  /** maxBytes is the chunk's target size (default 1 MiB, capped at 16 MiB by the node). */
  maxBytes?: number
}

type Method = 'GET' | 'POST' | 'DELETE'

/**
 * NodeClient is a typed HTTP/1.1 client for one storage node, over a keep-alive
 * connection pool (undici Pool). Every method throws {@link NodeRequestError}: the node's
 * coded refusal (STALE_EPOCH with the node's epoch, NOT_OWNER, UNAUTHORIZED, NOT_SERVING,
 * BAD_INPUT, TOO_LARGE, PRECONDITION) or NODE_UNREACHABLE when the node cannot be reached
 * or the request timed out. All data operations are safe to retry: apply is an LWW merge
 * (idempotent), the rest are reads or idempotent admin operations.
 */
export class NodeClient {
  readonly node: string
  readonly address: string
  private readonly pool: Pool
  private readonly token: string
  private readonly timeoutMs: number
  private readonly observe?: NodeClientOptions['observe']
  private readonly tls: TlsMaterial | undefined

  constructor(opts: NodeClientOptions) {
    this.observe = opts.observe
    this.node = opts.node
    this.address = opts.address
    this.token = opts.token
    this.timeoutMs = opts.timeoutMs ?? NODE_REQUEST_TIMEOUT_MS
    this.tls = opts.tls ?? defaultClientTls()
    this.pool = new Pool(dataPlaneUrl(opts.address, this.tls), {
      connections: opts.connections ?? 16,
      keepAliveTimeout: opts.keepAliveMs ?? 30_000,
      keepAliveMaxTimeout: opts.keepAliveMs ?? 30_000,
      pipelining: 1,
      connect: {timeout: this.timeoutMs, ...tlsConnectOptions(this.tls)},
    })
  }

  /** get reads `key` of `shard` at the caller's `epoch`: the record (value or tombstone) or undefined when the node has none. */
  async get(shard: number, epoch: number, key: Buffer | string, opts: RequestOptions = {}): Promise<GetResult> {
    const k = typeof key === 'string' ? Buffer.from(key) : key
    const res = await this.request('GET', `/v1/shards/${shard}/records/${k.toString('base64url')}?epoch=${epoch}`, undefined, opts)
    const nodeEpoch = Number(res.headers[EPOCH_HEADER] ?? epoch)
    const kind = res.headers[RECORD_HEADER]
    if (kind === 'absent') return {epoch: nodeEpoch, record: undefined}
    const version = String(res.headers[VERSION_HEADER] ?? '')
    if (kind === 'tombstone') return {epoch: nodeEpoch, record: {key: k, version, value: null}}
    if (kind === 'value') return {epoch: nodeEpoch, record: {key: k, version, value: res.body}}
    throw new NodeRequestError('INTERNAL', `node ${this.node} answered a get without ${RECORD_HEADER}`, this.node, res.status)
  }

  /**
   * apply merges `records` into the node's copy of `shard` (LWW: a record with a larger
   * version wins; equal versions are idempotent) and returns once they are durable.
   * `kind` tells the node's stats why (only `write` counts as client write load, and not
   * when `opts.replay` marks it a replay).
   */
  async apply(shard: number, epoch: number, records: readonly NodeRecord[], kind: ApplyKind = 'write', opts: ApplyOptions = {}): Promise<ApplyResponse> {
    const body = encodeRecords(records)
    const replay = opts.replay ? `&${REPLAY_PARAM}=1` : ''
    const res = await this.request('POST', `/v1/shards/${shard}/apply?epoch=${epoch}&kind=${kind}${replay}`, {body, type: RECORDS_CONTENT_TYPE}, opts)
    return this.parse(res, ApplyResponseSchema)
  }

  /**
   * snapshotChunk returns the next page of `shard`'s records in (hash, key) order,
   * tombstones included, about `maxBytes` long. Pass the returned cursor back to resume;
   * undefined means the range is exhausted. Records written after the snapshot began may
   * or may not appear (the copy runs beside dual writes; LWW makes either fine).
   */
  async snapshotChunk(shard: number, epoch: number, opts: SnapshotOptions = {}): Promise<SnapshotChunk> {
    const q = new URLSearchParams({epoch: String(epoch)})
    if (opts.range) {
      q.set('lo', String(opts.range.lo))
      q.set('hi', String(opts.range.hi))
    }
    if (opts.cursor) q.set('cursor', opts.cursor)
    if (opts.maxBytes) q.set('maxBytes', String(opts.maxBytes))
    const res = await this.request('GET', `/v1/shards/${shard}/snapshot?${q}`, undefined, opts)
    const cursor = res.headers[CURSOR_HEADER]
    return {
      epoch: Number(res.headers[EPOCH_HEADER] ?? epoch),
      records: this.decode(res.body),
      cursor: typeof cursor === 'string' && cursor !== '' ? cursor : undefined,
      bytes: res.body.length,
    }
  }

  /**
   * digest returns `shard`'s bucket digests (see DigestResponse): compare two replicas'
   * buckets index by index. With `tombstonesBefore`, older tombstones are left out (the
   * node may use an older cutoff; it says which in the answer). `format` names the record
   * hash format to compute at (default this build's {@link RECORD_HASH_FORMAT}; a node
   * of an older build answers at its own: check digestFormatOf before comparing).
   */
  async digest(shard: number, epoch: number, opts: RequestOptions & KeptCopyOptions & {tombstonesBefore?: number; format?: number} = {}): Promise<DigestResponse> {
    const cutoff = opts.tombstonesBefore === undefined ? '' : `&tombstonesBefore=${Math.floor(opts.tombstonesBefore)}`
    const format = `&format=${opts.format ?? RECORD_HASH_FORMAT}`
    return this.parse(await this.request('GET', `/v1/shards/${shard}/digest?epoch=${epoch}${cutoff}${format}${keptForParam(opts)}`, undefined, opts), DigestResponseSchema)
  }

  /**
   * gcFence sets the node's gc floor for `shard` to `before` (with `pending`: records a
   * pending fence there instead, whose id the answer's `fence` carries, for {@link gcConfirm})
   * and returns its digest at that cutoff and `format` (see GcRequest, {@link digest}).
   */
  async gcFence(shard: number, epoch: number, before: number, opts: RequestOptions & {format?: number; pending?: boolean} = {}): Promise<DigestResponse> {
    return this.parse(await this.request('POST', `/v1/shards/${shard}/gc?epoch=${epoch}`, json({phase: 'fence', before, format: opts.format ?? RECORD_HASH_FORMAT, ...(opts.pending ? {pending: true} : {})}), opts), DigestResponseSchema)
  }

  /** gcConfirm makes the pending fence `fence` at `before` the node's gc floor for `shard`; PRECONDITION when it is not held any more (see GcRequest). */
  async gcConfirm(shard: number, epoch: number, before: number, fence: number, opts: RequestOptions = {}): Promise<GcConfirmResponse> {
    return this.parse(await this.request('POST', `/v1/shards/${shard}/gc?epoch=${epoch}`, json({phase: 'confirm', before, fence}), opts), GcConfirmResponseSchema)
  }

  /** gcPurge deletes `shard`'s tombstones older than `before`, which the node must have been fenced at (see GcRequest). */
  async gcPurge(shard: number, epoch: number, before: number, opts: RequestOptions = {}): Promise<GcPurgeResponse> {
    return this.parse(await this.request('POST', `/v1/shards/${shard}/gc?epoch=${epoch}`, json({phase: 'purge', before}), opts), GcPurgeResponseSchema)
  }

  /**
   * bucketRecords lists the records (tombstones included) of the given digest buckets of
   * `shard`. With `opts.maxBytes` the node answers only as many whole buckets as fit about
   * that many bytes (at least one): `answered` names the buckets the records cover
   * completely, a prefix of the asked ones distinct and ascending (bucketAnswerOrder). Ask
   * again for the rest: an unanswered bucket is NOT empty. Without it, or from a node that
   * predates the bound, every asked bucket is answered. Throws NodeRequestError INTERNAL
   * when the node's count of answered buckets is not one of the asked.
   */
  async bucketRecords(shard: number, epoch: number, buckets: readonly number[], opts: BucketRecordsOptions = {}): Promise<BucketRecords> {
    const body = opts.maxBytes === undefined ? {buckets} : {buckets, maxBytes: opts.maxBytes}
    const res = await this.request('POST', `/v1/shards/${shard}/buckets?epoch=${epoch}${keptForParam(opts)}`, json(body), opts)
    const order = bucketAnswerOrder(buckets)
    const header = res.headers[BUCKETS_ANSWERED_HEADER]
    const answered = header === undefined ? order.length : Number(header)
    if (!Number.isInteger(answered) || answered < 1 || answered > order.length) {
      throw new NodeRequestError('INTERNAL', `node ${this.node} answered ${String(header)} of ${order.length} asked buckets in ${BUCKETS_ANSWERED_HEADER}`, this.node, res.status)
    }
    return {records: this.decode(res.body), answered: order.slice(0, answered)}
  }

  /** inflight returns how many data requests (get/apply) for `shard` the node is serving now. */
  async inflight(shard: number, opts: RequestOptions = {}): Promise<InflightResponse> {
    return this.parse(await this.request('GET', `/v1/shards/${shard}/inflight`, undefined, opts), InflightResponseSchema)
  }

  /** accept makes the node catch up to at least `epoch` for `shard` (re-reading etcd) and returns its epoch and role. */
  async accept(shard: number, epoch: number, opts: RequestOptions = {}): Promise<AcceptResponse> {
    return this.parse(await this.request('POST', `/v1/shards/${shard}/accept`, json({epoch}), opts), AcceptResponseSchema)
  }

  /**
   * drop deletes the node's copy of `shard` (or of `range` inside it). Refused with
   * PRECONDITION while the node is still a non-leaving replica of an overlapping shard.
   * Idempotent: dropping again deletes 0.
   */
  async drop(shard: number, epoch: number, range?: HashRange, opts: RequestOptions = {}): Promise<DropResponse> {
    return this.parse(await this.request('POST', `/v1/shards/${shard}/drop`, json({epoch, ...(range ? {range} : {})}), {timeoutMs: 120_000, ...opts}), DropResponseSchema)
  }

  /**
   * copyStream opens `shard`'s copy stream at `epoch` (copyFrames.ts) from `cursor` and
   * yields its bytes as they arrive. Refusals throw before the first byte (STALE_EPOCH,
   * NOT_OWNER, ...); a connection that fails or stays silent for `idleMs` throws
   * NODE_UNREACHABLE from the iteration. `signal` aborts it. `onGcFloors` hears the source's
   * gc floors over the range ({@link GC_FLOORS_HEADER}; undefined: a source that predates
   * them) before the first byte is yielded; a header it cannot read fails the stream with
   * CopyFrameError, as a malformed frame does.
   */
  async *copyStream(shard: number, epoch: number, opts: {cursor?: string; frameBytes: number; signal: AbortSignal; idleMs?: number; pace?: StreamPace; onGcFloors?: (floors: GcFloor[] | undefined) => void}): AsyncGenerator<Buffer> {
    const q = new URLSearchParams({epoch: String(epoch), frameBytes: String(opts.frameBytes)})
    if (opts.cursor) q.set('cursor', opts.cursor)
    // The source paces the stream at the move's rate itself (see StreamPaces); a node that predates it ignores both.
    if (opts.pace) q.set('move', opts.pace.move)
    if (opts.pace && opts.pace.rate !== null) q.set('rate', String(Math.max(1, Math.round(opts.pace.rate))))
    if (opts.pace?.stream !== undefined) q.set('stream', opts.pace.stream)
    const idleMs = opts.idleMs ?? 30_000
    let res
    try {
      res = await this.pool.request({method: 'GET', path: `/v1/shards/${shard}/stream?${q}`, headers: {[TOKEN_HEADER]: this.token, [NODE_HEADER]: this.node}, signal: opts.signal, headersTimeout: idleMs, bodyTimeout: idleMs})
    } catch (err) {
      throw new NodeRequestError('NODE_UNREACHABLE', `node ${this.node} at ${this.address}: ${describeNetworkError(err, idleMs, this.tls !== undefined)}`, this.node, 0, undefined, {cause: err, timedOut: isOwnTimeout(err)})
    }
    if (res.statusCode < 200 || res.statusCode >= 300) {
      const buf = Buffer.from(await res.body.arrayBuffer().catch(() => new ArrayBuffer(0)))
      throw this.refusal(res.statusCode, buf, res.headers)
    }
    if (opts.onGcFloors) {
      let floors
      try {
        floors = parseGcFloors(res.headers[GC_FLOORS_HEADER])
      } catch (err) {
        res.body.destroy()
        throw new CopyFrameError(`node ${this.node}: ${errorMessage(err)}`)
      }
      opts.onGcFloors(floors)
    }
    try {
      for await (const chunk of res.body) yield chunk as Buffer
    } catch (err) {
      if (opts.signal.aborted) return
      throw new NodeRequestError('NODE_UNREACHABLE', `node ${this.node} at ${this.address}: copy stream broke: ${describeNetworkError(err, idleMs, this.tls !== undefined)}`, this.node, 0, undefined, {cause: err, timedOut: isOwnTimeout(err)})
    } finally {
      if (!res.body.destroyed) res.body.destroy()
    }
  }

  /** streamRate changes the rate at which this node (a source) sends `pace.move`'s copy stream `pace.stream` of `shard` (absent: all of them); `streams` is how many took it. */
  async streamRate(shard: number, pace: StreamPace, opts: RequestOptions = {}): Promise<{streams: number}> {
    return this.parse(await this.request('POST', `/v1/shards/${shard}/stream-rate`, json({move: pace.move, rate: pace.rate, ...(pace.stream !== undefined ? {stream: pace.stream} : {})}), opts), StreamRateResponseSchema)
  }

  /** pull asks the node (a move's destination) to copy a shard from its sources (see PullRequest); idempotent, returns the copy's status. */
  async pull(shard: number, req: PullRequest, opts: RequestOptions = {}): Promise<PullStatusResponse> {
    return this.parse(await this.request('POST', `/v1/shards/${shard}/pull`, json(req), opts), PullStatusResponseSchema)
  }

  /**
   * pullStatus returns the node's report on `shard`'s copy (state idle: nothing running;
   * ask again with pull). With `waitMs` (at most MAX_PULL_WAIT_MS) the node answers once a
   * running copy ends or `waitMs` passed: a long poll that learns of the end at once. A
   * node that predates it answers at once, so callers still pace their polls.
   */
  async pullStatus(shard: number, opts: RequestOptions & {waitMs?: number} = {}): Promise<PullStatusResponse> {
    const q = opts.waitMs ? `?wait=${Math.round(opts.waitMs)}` : ''
    return this.parse(await this.request('GET', `/v1/shards/${shard}/pull${q}`, undefined, opts), PullStatusResponseSchema)
  }

  /** cancelPull stops `shard`'s copy on the node (only move `moveId`'s when given) and returns once it stopped. */
  async cancelPull(shard: number, moveId?: string, opts: RequestOptions = {}): Promise<PullStatusResponse> {
    const q = moveId ? `?move=${encodeURIComponent(moveId)}` : ''
    return this.parse(await this.request('DELETE', `/v1/shards/${shard}/pull${q}`, undefined, opts), PullStatusResponseSchema)
  }

  /** setThrottle sets the node's copy send and receive rates (bytes/s, null: unlimited; omitted: unchanged) and returns those in force. */
  async setThrottle(rates: ThrottleRequest, opts: RequestOptions = {}): Promise<ThrottleRequest> {
    return this.parse(await this.request('POST', '/v1/throttle', json(rates), opts), ThrottleRequestSchema)
  }

  /** stats returns the node's shards as it sees them, with load and in-flight counts. */
  async stats(opts: RequestOptions = {}): Promise<NodeStatusResponse> {
    return this.parse(await this.request('GET', '/v1/stats', undefined, opts), NodeStatusResponseSchema)
  }

  /** health asks `/healthz` (no token needed): serving is false while the node starts, drains or re-registers. */
  async health(opts: RequestOptions = {}): Promise<HealthResponse> {
    return this.parse(await this.request('GET', '/healthz', undefined, opts), HealthResponseSchema)
  }

  /** close stops new requests, lets in-flight ones finish, then closes the pool's connections. */
  async close(): Promise<void> {
    if (!this.pool.closed && !this.pool.destroyed) await this.pool.close()
  }

  /** destroy aborts in-flight requests and closes every connection now. */
  async destroy(): Promise<void> {
    if (!this.pool.destroyed) await this.pool.destroy()
  }

  private async request(method: Method, path: string, body: {body: Buffer; type: string} | undefined, opts: RequestOptions): Promise<{status: number; headers: Record<string, string | string[] | undefined>; body: Buffer}> {
    if (!this.observe) return this.send(method, path, body, opts)
    const started = performance.now()
    const op = operationOf(path)
    try {
      const res = await this.send(method, path, body, opts)
      this.observe(this.node, op, (performance.now() - started) / 1000, 'ok')
      return res
    } catch (err) {
      this.observe(this.node, op, (performance.now() - started) / 1000, err instanceof NodeRequestError ? err.code : 'INTERNAL')
      throw err
    }
  }

  private async send(method: Method, path: string, body: {body: Buffer; type: string} | undefined, opts: RequestOptions): Promise<{status: number; headers: Record<string, string | string[] | undefined>; body: Buffer}> {
    const timeoutMs = opts.timeoutMs ?? this.timeoutMs
    // Without a caller's signal the bound is undici's own: connect, headers and body timeouts.
    // An AbortSignal per request costs more CPU than the rest of a small request (abort
    // listeners on EventTarget), which the router pays on every client request.
    const ownTimeout = opts.signal ? AbortSignal.timeout(timeoutMs) : undefined
    const signal = opts.signal && ownTimeout ? AbortSignal.any([opts.signal, ownTimeout]) : undefined
    let status: number
    let headers: Record<string, string | string[] | undefined>
    let buf: Buffer
    try {
      const res = await this.pool.request({
        method,
        path,
        headers: {[TOKEN_HEADER]: this.token, [NODE_HEADER]: this.node, ...(body ? {'content-type': body.type} : {})},
        body: body?.body,
        signal,
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
      })
      status = res.statusCode
      headers = res.headers
      buf = Buffer.from(await res.body.arrayBuffer())
    } catch (err) {
      const timedOut = isOwnTimeout(err, signal, ownTimeout)
      throw new NodeRequestError('NODE_UNREACHABLE', `node ${this.node} at ${this.address}: ${describeNetworkError(err, timeoutMs, this.tls !== undefined)}`, this.node, 0, undefined, {cause: err, timedOut})
    }
    if (status >= 200 && status < 300) return {status, headers, body: buf}
    throw this.refusal(status, buf, headers)
  }

  private refusal(status: number, buf: Buffer, headers: Record<string, string | string[] | undefined>): NodeRequestError {
    let parsed: z.infer<typeof ErrorBodySchema> | undefined
    try {
      const r = ErrorBodySchema.safeParse(JSON.parse(buf.toString('utf8')))
      if (r.success) parsed = r.data
    } catch {
      // not JSON: fall through to a generic error
    }
    const epochHeader = headers[EPOCH_HEADER]
    const nodeEpoch = parsed?.epoch ?? (typeof epochHeader === 'string' ? Number(epochHeader) : undefined)
    if (parsed) return new NodeRequestError(parsed.code, `node ${this.node}: ${parsed.message}`, this.node, status, nodeEpoch, parsed.storageFull ? {storageFull: true} : undefined)
    const code: ErrorCode = status === 401 ? 'UNAUTHORIZED' : status === 503 ? 'NOT_SERVING' : status === 413 ? 'TOO_LARGE' : status === 404 ? 'NOT_FOUND' : 'INTERNAL'
    return new NodeRequestError(ERROR_CODES.includes(code) ? code : 'INTERNAL', `node ${this.node} answered HTTP ${status}`, this.node, status, nodeEpoch)
  }

  private parse<S extends z.ZodType>(res: {status: number; body: Buffer}, schema: S): z.output<S> {
    let value: unknown
    try {
      value = JSON.parse(res.body.toString('utf8'))
    } catch {
      throw new NodeRequestError('INTERNAL', `node ${this.node} answered invalid JSON`, this.node, res.status)
    }
    const r = schema.safeParse(value)
    if (!r.success) throw new NodeRequestError('INTERNAL', `node ${this.node} answered an unexpected body: ${r.error.issues[0]?.message ?? 'invalid'}`, this.node, res.status)
    return r.data
  }

  private decode(body: Buffer): NodeRecord[] {
    try {
      return decodeRecords(body)
    } catch (err) {
      throw new NodeRequestError('INTERNAL', `node ${this.node} answered a malformed record batch: ${(err as Error).message}`, this.node, 200)
    }
  }
}

function json(value: unknown): {body: Buffer; type: string} {
  return {body: Buffer.from(JSON.stringify(value)), type: 'application/json'}
}

/**
 * isOwnTimeout tells whether `err` is a time bound this client set running out: undici's
 * connect, headers or body timeout (the pool's and the request's own), or `ownTimeout`
 * when it is what aborted the combined `signal`. A caller's signal aborting is the
 * caller's decision, not a timeout of this request, even when that signal is a timer.
 */
function isOwnTimeout(err: unknown, signal?: AbortSignal, ownTimeout?: AbortSignal): boolean {
  if (err instanceof undiciErrors.ConnectTimeoutError || err instanceof undiciErrors.HeadersTimeoutError || err instanceof undiciErrors.BodyTimeoutError) return true
  return ownTimeout !== undefined && ownTimeout.aborted && signal?.reason === ownTimeout.reason
}

function describeNetworkError(err: unknown, timeoutMs: number, tls: boolean): string {
  const tlsWhy = describeTlsFailure(err)
  if (tlsWhy) return `TLS refused: ${tlsWhy}`
  // TLS 1.3 checks our certificate after the handshake: a refusal reads as a closed socket.
  if (tls && err instanceof undiciErrors.SocketError) return `connection closed by the node (if this persists, it refused our client certificate: check --tls-cert is signed by its CA and not expired): ${err.message}`
  if (err instanceof undiciErrors.HeadersTimeoutError || err instanceof undiciErrors.BodyTimeoutError) return `timed out after ${timeoutMs} ms`
  if (err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError')) return err.name === 'TimeoutError' ? `timed out after ${timeoutMs} ms` : 'request aborted'
  const e = err as {code?: string; message?: string}
  return e.code ? `${e.code} ${e.message ?? ''}`.trim() : String(e.message ?? err)
}

/** operationOf names a request for metrics from its path (bounded: never a key or shard id). */
function operationOf(path: string): string {
  const m = /^\/v1\/shards\/\d+\/([a-z]+)/.exec(path)
  if (m) return m[1] === 'records' ? 'get' : m[1]!
  if (path.startsWith('/v1/throttle')) return 'throttle'
  return path.startsWith('/v1/stats') ? 'stats' : path.startsWith('/healthz') ? 'healthz' : 'other'
}

/** keptForParam is the query suffix naming a kept copy's move ({@link KeptCopyOptions}), or nothing. */
function keptForParam(opts: KeptCopyOptions): string {
  return opts.keptFor === undefined ? '' : `&${KEPT_FOR_PARAM}=${encodeURIComponent(opts.keptFor)}`
}
