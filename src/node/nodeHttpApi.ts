import {type IncomingMessage, type ServerResponse} from 'node:http'
import {type z} from 'zod'
import {type ErrorCode} from '../errors/codes.js'
import {UserError, errorMessage} from '../errors/errors.js'
import {HTTP_STATUS} from '../errors/httpStatus.js'
import {StorageFullError} from './storageFull.js'
import {type HashRange, rangesOverlap} from '../model/range.js'
import {HASH_SPACE, keyHash as keyHashOf} from '../model/hash.js'
import {type ReplicaRole, type Shard} from '../model/shard.js'
import {type ClockVerdict, versionTooFarAhead, type WriteGate} from '../clock/clockOffsetTracker.js'
import {readRequestBody, settleUnreadBody} from '../transport/requestBody.js'
import {requestTargetUrl} from '../transport/requestTarget.js'
import {tokensEqual} from './clusterToken.js'
import {type LoadMeter} from './loadMeter.js'
import {meteredCopyEngine} from './meteredCopyEngine.js'
import {type NodeLog} from './nodeLog.js'
import {type NodeMetrics} from './nodeMetrics.js'
import {
  AcceptRequestSchema,
  APPLY_KINDS,
  type ApplyKind,
  BUCKETS_ANSWERED_HEADER,
  BucketsRequestSchema,
  countsAsClientWrite,
  GcRequestSchema,
  CURSOR_HEADER,
  DEFAULT_CHUNK_BYTES,
  DropRequestSchema,
  EPOCH_HEADER,
  type ErrorBody,
  MAX_BATCH_BYTES,
  MAX_CHUNK_BYTES,
  MAX_JSON_BODY_BYTES,
  MAX_KEY_BYTES,
  MAX_PULL_WAIT_MS,
  type NodeRecord,
  type NodeStatusResponse,
  RECORD_HEADER,
  RECORDS_CONTENT_TYPE,
  REPLAY_PARAM,
  KEPT_FOR_PARAM,
  KEPT_FOR_PATTERN,
  PullRequestSchema,
  StreamRateRequestSchema,
  ThrottleRequestSchema,
  TOKEN_HEADER,
  NODE_HEADER,
  VERSION_HEADER,
} from './protocol.js'
import {decodeRecords, RecordCodecError} from './recordCodec.js'
import {isRecordHashFormat, LEGACY_RECORD_HASH_FORMAT, type RecordHashFormat} from './recordHash.js'
import {type AdmittedWrite, FencedWrites} from './fencedWrites.js'
import {type RangeWriteGate} from './orphanSweeper.js'
import {type ShardView} from './shardMapFollower.js'
import {versionWall} from './lwwMerge.js'
import {RangeDropStoppedError, type StorageEngine} from './storageEngine.js'
import {COPY_STREAM_CONTENT_TYPE, type CopyFrame, frameBytesFor} from './copyFrames.js'
import {type CopySourceAddress, CopyPuller} from './copyPuller.js'
import {encodeGcFloors, GC_FLOORS_HEADER} from './gcFloorsHeader.js'
import {type GcFloor} from './lwwSql.js'
import {writeCopyStream} from './copyStreamSource.js'
import {onResponseGone} from './responseGone.js'
import {type NodeThrottles} from './nodeThrottles.js'
import {type StreamPace, StreamPaces} from './streamPaces.js'
import {keptCopyRefusal, type MoveSide} from './moveCopyHolds.js'

/** READ_ROLES may serve gets: a learning or joining replica is still being filled, a leaving one is stale. */
const READ_ROLES: ReadonlySet<ReplicaRole> = new Set(['voter', 'outgoing'])
/** WRITE_ROLES take applies (client writes, read repair, copy): everything but leaving (ARCHITECTURE "The move"). */
const WRITE_ROLES: ReadonlySet<ReplicaRole> = new Set(['voter', 'learning', 'joining', 'outgoing'])
/** ADMIN_ROLES may be snapshotted, digested and listed: any listed role (a leaving source is copied back on rollback). */
const ADMIN_ROLES: ReadonlySet<ReplicaRole> = new Set(['voter', 'learning', 'joining', 'outgoing', 'leaving'])

/**
 * ACCEPT_WAIT_MS: how long `accept` waits for writes let in at an older epoch before it answers
 * NOT_SERVING (retriable; the executor's barrier asks again): under the barrier's 2 s timeout.
 */
export const ACCEPT_WAIT_MS = 1500

/** NodeApiDeps are what the HTTP API serves from. */
export interface NodeApiDeps {
  nodeId: string
  /** instance is the process's random id, answered on /healthz (see identityClaim.ts). Absent: not answered. */
  instance?: string
  token: Buffer
  engine: StorageEngine
  map: ShardView
  meter: LoadMeter
  log: NodeLog
  /** serving is false while starting, after a lost lease (until re-registered) and while shutting down. */
  serving: () => boolean
  /** draining is true once shutdown began: responses close their connection, and /healthz says `stopping`. */
  draining: () => boolean
  /**
   * leaseHeld is false once the node's etcd lease may have expired (until it re-registered
   * under a new one): a write that commits then is answered NOT_SERVING, never acknowledged
   * (see applyFenced). Absent: always held.
   */
  leaseHeld?: () => boolean
  /**
   * coverWrites resolves once the node published a write mark covering every commit it holds
   * (WriteMarkPublisher.cover); a gc fence is answered only after it, so no replica purges a
   * tombstone that a copy of some replica's dir, judged current, could lack. Absent: fences
   * are answered without (unit tests with no etcd).
   */
  coverWrites?: () => Promise<void>
  /**
   * keptCopy reads move `id`'s record (its shard, sides and phase) for a read of a copy it keeps
   * on this node outside the shard's map (KEPT_FOR_PARAM; undefined: no such move), as of etcd
   * revision `atLeast` or later: the node's map revision once it knows the shard at the request's
   * epoch, so the record is at least as new as the shard change that took this node's role away
   * (the node's moves view, movesView.ts, for its staleness bound). Absent: such reads are refused (NOT_OWNER).
   */
  keptCopy?: (id: string, atLeast: bigint) => Promise<MoveSide | undefined>
  /** rangeGate holds applies to a range while an orphan sweep removes it (see orphanSweeper.ts). */
  rangeGate?: RangeWriteGate
  /** acceptWaitMs bounds how long `accept` waits for writes let in at an older epoch (default ACCEPT_WAIT_MS). */
  acceptWaitMs?: number
  /** clock bounds client writes: `write` applies are refused (CLOCK_OFFSET) while the gate is closed or when a version is more than `maxOffsetMs` ahead of `now()`. Absent: unbounded. */
  clock?: {now: () => number; maxOffsetMs: number; gate: WriteGate; verdict: () => ClockVerdict}
  /** reserve reports the node's disk reserve for `/v1/stats` (DiskReserve: bytes held and its target). Absent: not reported. */
  reserve?: () => {held: number; target: number}
  /** metrics, when given, records every request and is served on GET /metrics (no token: it carries no secret). */
  metrics?: NodeMetrics
  /**
   * copy enables node-to-node copies (stream, pull, throttle routes): `peer` opens a copy
   * stream from a source node, `throttles` are the node's send and receive buckets.
   * `frames`, when given, receives the streams instead of `peer` (CopyReceiver: in the copy
   * receive thread) and yields their frames. Absent: those routes answer NOT_FOUND.
   */
  copy?: {peer: (source: CopySourceAddress) => CopyStreamOpener; frames?: CopyFrameOpener; throttles: NodeThrottles; sleep?: (ms: number) => Promise<void>; now?: () => number}
}

/** CopyFrameOpener opens a source's copy stream as frames (CopyReceiver.openFrames; see CopyPullerDeps.openFrames). */
export interface CopyFrameOpener {
  openFrames(source: CopySourceAddress, shard: number, epoch: number, cursor: string | undefined, frameBytes: number, signal: AbortSignal, pace?: StreamPace): AsyncIterable<CopyFrame>
}

/** CopyStreamOpener opens a source's copy stream (NodeClient.copyStream) and changes its pace (NodeClient.streamRate). */
export interface CopyStreamOpener {
  copyStream(shard: number, epoch: number, opts: {cursor?: string; frameBytes: number; signal: AbortSignal; pace?: StreamPace; onGcFloors?: (floors: GcFloor[] | undefined) => void}): AsyncIterable<Buffer>
  streamRate(shard: number, pace: StreamPace): Promise<{streams: number}>
}

/** HttpError is a coded refusal carrying the node's epoch for the shard when relevant. */
class HttpError extends UserError {
  constructor(
    code: ErrorCode,
    message: string,
    readonly epoch?: number,
  ) {
    super(code, message)
  }
}

type Handler = (req: IncomingMessage, res: ServerResponse, m: RegExpExecArray, url: URL) => Promise<void>

/**
 * NodeHttpApi is the storage node's HTTP handler (routes and contracts in protocol.ts).
 * Every request but /healthz needs the token; shard-scoped requests are fenced by epoch:
 * older than the node's → 409 STALE_EPOCH with the node's epoch; newer → the node
 * re-reads the shard from etcd first (the request proves a newer map exists); a role that
 * does not allow the operation → 421 NOT_OWNER. Errors are JSON {code, message[, epoch]};
 * unexpected failures are logged and answered 500 without details.
 */
export class NodeHttpApi {
  private readonly inflight = new Map<number, number>()
  private readonly writes = new FencedWrites()
  private active = 0
  private readonly routes: {method: string; pattern: RegExp; handler: Handler}[]
  /** copies runs the copies this node pulls as a destination (undefined without deps.copy). */
  readonly copies: CopyPuller | undefined
  /** paces are the buckets of the copy streams this node serves as a source, one per stream whose destination named its move. */
  private readonly paces: StreamPaces

  constructor(private readonly deps: NodeApiDeps) {
    const copy = deps.copy
    const sleep = copy?.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)))
    this.paces = new StreamPaces(copy?.now ?? Date.now)
    this.copies = copy
      ? new CopyPuller({
          engine: meteredCopyEngine(deps.engine, deps.metrics),
          openStream: (source, shard, epoch, cursor, frameBytes, signal, pace, onGcFloors) => copy.peer(source).copyStream(shard, epoch, {cursor, frameBytes, signal, pace, onGcFloors}),
          setSourcePace: async (source, shard, pace) => (await copy.peer(source).streamRate(shard, pace)).streams,
          ...(copy.frames ? {openFrames: copy.frames.openFrames.bind(copy.frames)} : {}),
          fence: async (shardId, epoch) => {
            const {shard} = await this.fence(shardId, epoch, WRITE_ROLES, 'take copies')
            await this.deps.rangeGate?.wait(shard.range)
            return shard.range
          },
          receive: copy.throttles.receive,
          now: copy.now ?? Date.now,
          sleep,
          log: deps.log,
        })
      : undefined
    this.routes = [
      {method: 'GET', pattern: /^\/v1\/shards\/(\d{1,9})\/stream$/, handler: (q, s, m, u) => this.stream(q, s, m, u)},
      {method: 'POST', pattern: /^\/v1\/shards\/(\d{1,9})\/stream-rate$/, handler: (q, s, m) => this.streamRate(q, s, m)},
      {method: 'POST', pattern: /^\/v1\/shards\/(\d{1,9})\/pull$/, handler: (q, s, m) => this.pull(q, s, m)},
      {method: 'GET', pattern: /^\/v1\/shards\/(\d{1,9})\/pull$/, handler: (q, s, m, u) => this.pullStatus(q, s, m, u)},
      {method: 'DELETE', pattern: /^\/v1\/shards\/(\d{1,9})\/pull$/, handler: (q, s, m, u) => this.pullCancel(q, s, m, u)},
      {method: 'POST', pattern: /^\/v1\/throttle$/, handler: (q, s) => this.throttle(q, s)},
      {method: 'GET', pattern: /^\/v1\/shards\/(\d{1,9})\/records\/([A-Za-z0-9_-]*)$/, handler: (q, s, m, u) => this.get(q, s, m, u)},
      {method: 'POST', pattern: /^\/v1\/shards\/(\d{1,9})\/apply$/, handler: (q, s, m, u) => this.apply(q, s, m, u)},
      {method: 'GET', pattern: /^\/v1\/shards\/(\d{1,9})\/snapshot$/, handler: (q, s, m, u) => this.snapshot(q, s, m, u)},
      {method: 'GET', pattern: /^\/v1\/shards\/(\d{1,9})\/digest$/, handler: (q, s, m, u) => this.digest(q, s, m, u)},
      {method: 'POST', pattern: /^\/v1\/shards\/(\d{1,9})\/buckets$/, handler: (q, s, m, u) => this.buckets(q, s, m, u)},
      {method: 'POST', pattern: /^\/v1\/shards\/(\d{1,9})\/gc$/, handler: (q, s, m, u) => this.gc(q, s, m, u)},
      {method: 'GET', pattern: /^\/v1\/shards\/(\d{1,9})\/inflight$/, handler: (q, s, m) => this.inflightOf(q, s, m)},
      {method: 'POST', pattern: /^\/v1\/shards\/(\d{1,9})\/accept$/, handler: (q, s, m) => this.accept(q, s, m)},
      {method: 'POST', pattern: /^\/v1\/shards\/(\d{1,9})\/drop$/, handler: (q, s, m) => this.drop(q, s, m)},
      {method: 'GET', pattern: /^\/v1\/stats$/, handler: (q, s) => this.stats(q, s)},
    ]
  }

  /** activeRequests is the number of requests being served now (shutdown waits for 0). */
  activeRequests(): number {
    return this.active
  }

  /** writesSettled resolves true once every write let past the fence by now has finished, false after `waitMs` (see FencedWrites.allSettled). */
  writesSettled(waitMs: number): Promise<boolean> {
    return this.writes.allSettled(waitMs)
  }

  /** inflightFor is the number of data requests (get/apply) for `shard` being served now. */
  inflightFor(shard: number): number {
    return this.inflight.get(shard) ?? 0
  }

  /** handle serves one request; it never throws and always answers. */
  handle = (req: IncomingMessage, res: ServerResponse): void => {
    this.active++
    res.once('close', () => this.active--)
    const url = requestTargetUrl(req.url)
    if (this.deps.metrics) this.measure(url, req, res, this.deps.metrics)
    if (this.deps.draining()) res.setHeader('connection', 'close')
    void this.dispatch(url, req, res).catch((err) => this.fail(req, res, err))
  }

  /** measure records the request's operation, status, latency and (apply, snapshot) bytes when it finishes. */
  private measure(url: URL | undefined, req: IncomingMessage, res: ServerResponse, metrics: NodeMetrics): void {
    const started = performance.now()
    res.once('finish', () => {
      // A target that is no URL was answered 400 (dispatch): counted as not a route.
      const path = url?.pathname ?? ''
      const op = /^\/v1\/shards\/\d+\/([a-z]+)/.exec(path)?.[1]?.replace(/^records$/, 'get') ?? (/^\/(v1\/stats|healthz|metrics)$/.test(path) ? path.split('/').pop()! : 'other')
      metrics.request(op, res.statusCode, (performance.now() - started) / 1000)
      if (!url || res.statusCode >= 300) return
      if (op === 'apply') metrics.applied(applyLabel(url), Number(req.headers['content-length'] ?? 0))
      if (op === 'snapshot') metrics.copiedOut(Number(res.getHeader('content-length') ?? 0))
    })
  }

  private async dispatch(url: URL | undefined, req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (!url) throw new HttpError('BAD_INPUT', `the request target ${JSON.stringify((req.url ?? '').slice(0, 100))} is not a path on this node`)
    if (url.pathname === '/healthz' && req.method === 'GET') {
      const v = this.deps.clock?.verdict()
      // `clock` lets peers measure their offset from this node (see ClockMonitor). `stopping`
      // tells a second process for this id probing here to wait for the key, not take it over.
      sendJson(res, 200, {node: this.deps.nodeId, serving: this.deps.serving(), clock: this.deps.clock?.now() ?? Date.now(), ...(v ? {clockOk: v.ok, clockOffsetMs: v.offsetMs} : {}), ...(this.deps.instance ? {instance: this.deps.instance} : {}), ...(this.deps.draining() ? {stopping: true} : {})})
      return
    }
    if (url.pathname === '/metrics' && req.method === 'GET' && this.deps.metrics) {
      const {body, contentType} = await this.deps.metrics.render()
      res.writeHead(200, {'content-type': contentType, 'content-length': Buffer.byteLength(body)})
      res.end(body)
      return
    }
    const presented = req.headers[TOKEN_HEADER]
    if (!tokensEqual(typeof presented === 'string' ? presented : undefined, this.deps.token)) throw new HttpError('UNAUTHORIZED', `missing or wrong ${TOKEN_HEADER}`)
    // After the token (a stranger learns no node id): a sender that dialled a stale address must not be answered by this node in another's name.
    const meant = req.headers[NODE_HEADER]
    if (typeof meant === 'string' && meant !== this.deps.nodeId) throw new HttpError('NOT_SERVING', `this is node ${this.deps.nodeId}, not ${meant.slice(0, 63)}: the address dialled is stale (node ${meant.slice(0, 63)} serves elsewhere now, or is down)`)
    const route = this.routes.find((r) => r.method === req.method && r.pattern.test(url.pathname)) ?? this.routes.find((r) => r.pattern.test(url.pathname))
    const match = route?.pattern.exec(url.pathname)
    if (!route || !match) throw new HttpError('NOT_FOUND', `no route ${req.method} ${url.pathname}`)
    if (route.method !== req.method) throw new HttpError('NOT_FOUND', `no route ${req.method} ${url.pathname} (use ${route.method})`)
    if (!this.deps.serving()) throw new HttpError('NOT_SERVING', this.deps.draining() ? 'node is shutting down' : 'node is not serving (starting, or re-registering after a lost etcd lease)')
    await route.handler(req, res, match, url)
  }

  /** fence checks the request's epoch for `shardId` against the node's map (see class doc) and the role against `roles`. */
  private async fence(shardId: number, epoch: number, roles: ReadonlySet<ReplicaRole>, op: string): Promise<{shard: Shard; role: ReplicaRole}> {
    const shard = await this.atEpoch(shardId, epoch)
    const role = this.deps.map.roleOf(shard)
    if (!role || !roles.has(role)) throw new HttpError('NOT_OWNER', `node ${this.deps.nodeId} ${role ? `is ${role} for shard ${shardId}, which does not ${op}` : `holds no replica of shard ${shardId}`} at epoch ${shard.epoch}`, shard.epoch)
    return {shard, role}
  }

  /** atEpoch is the shard as the node knows it, checked against the request's epoch (see class doc). */
  private async atEpoch(shardId: number, epoch: number): Promise<Shard> {
    let shard = this.deps.map.get(shardId)
    // Shards partition the hash space, so an entry overlapping another one is stale (a
    // split's parent the node has not seen shrink): confirm it with etcd, so a router still
    // routing the parent's old range is told STALE_EPOCH instead of writing past the child's fence.
    if (!shard || shard.epoch < epoch || this.overlapsAnother(shard)) shard = await this.refresh(shardId)
    if (!shard) throw new HttpError('NOT_OWNER', `shard ${shardId} does not exist`, 0)
    if (shard.epoch > epoch) throw new HttpError('STALE_EPOCH', `shard ${shardId} is at epoch ${shard.epoch}; the request carried ${epoch}`, shard.epoch)
    if (shard.epoch < epoch) throw new HttpError('BAD_INPUT', `shard ${shardId}: epoch ${epoch} is newer than etcd's ${shard.epoch}`, shard.epoch)
    return shard
  }

  /**
   * readFence fences a read-only admin request (digest, bucket listing): as {@link fence} with
   * ADMIN_ROLES, unless it names a move (KEPT_FOR_PARAM): then it is a read of the copy that move
   * keeps on this node outside the shard's map, answered only while the node holds no role in
   * the shard at the request's epoch and the move record, read from etcd (no older than the node's map at that epoch: keptCopy), keeps this node's
   * copy of it (moveCopyHolds.ts keptCopyRefusal); else NOT_OWNER. An etcd that cannot be read
   * is NOT_SERVING (retriable), never an answer.
   */
  private async readFence(shardId: number, epoch: number, url: URL, op: string): Promise<{shard: Shard}> {
    const keptFor = url.searchParams.get(KEPT_FOR_PARAM)
    if (keptFor === null) return this.fence(shardId, epoch, ADMIN_ROLES, op)
    if (!KEPT_FOR_PATTERN.test(keptFor)) throw new HttpError('BAD_INPUT', `${KEPT_FOR_PARAM} must be a move id (letters, digits, '_', '.', '-', up to 160), not ${JSON.stringify(keptFor.slice(0, 40))}`)
    const shard = await this.atEpoch(shardId, epoch)
    const role = this.deps.map.roleOf(shard)
    if (role) throw new HttpError('NOT_OWNER', `node ${this.deps.nodeId} is ${role} for shard ${shardId} at epoch ${shard.epoch}: it holds no kept copy of it (read it without ${KEPT_FOR_PARAM})`, shard.epoch)
    if (!this.deps.keptCopy) throw new HttpError('NOT_OWNER', `node ${this.deps.nodeId} holds no replica of shard ${shardId} at epoch ${shard.epoch} and cannot look up move ${keptFor}`, shard.epoch)
    let move
    try {
      move = await this.deps.keptCopy(keptFor, this.deps.map.mapRevision())
    } catch (err) {
      throw new HttpError('NOT_SERVING', `cannot read move ${keptFor} from etcd to ${op} of a kept copy: ${errorMessage(err)}`)
    }
    const refused = keptCopyRefusal(move, keptFor, this.deps.nodeId, shardId)
    if (refused) throw new HttpError('NOT_OWNER', `node ${this.deps.nodeId} holds no replica of shard ${shardId} at epoch ${shard.epoch}, and ${refused}`, shard.epoch)
    return {shard}
  }

  /** overlapsAnother tells whether another shard the node knows overlaps `shard`'s range (one of the two entries is stale). */
  private overlapsAnother(shard: Shard): boolean {
    for (const s of this.deps.map.all()) if (s.id !== shard.id && rangesOverlap(s.range, shard.range)) return true
    return false
  }

  /** refresh re-reads a shard from etcd; an etcd failure becomes NOT_SERVING (retriable) since the node cannot confirm the epoch. */
  private async refresh(id: number): Promise<Shard | undefined> {
    try {
      return await this.deps.map.refresh(id)
    } catch (err) {
      throw new HttpError('NOT_SERVING', `cannot confirm shard ${id}'s epoch with etcd: ${errorMessage(err)}`)
    }
  }

  private async tracked<T>(shard: number, fn: () => Promise<T>): Promise<T> {
    this.inflight.set(shard, (this.inflight.get(shard) ?? 0) + 1)
    try {
      return await fn()
    } finally {
      const n = (this.inflight.get(shard) ?? 1) - 1
      if (n === 0) this.inflight.delete(shard)
      else this.inflight.set(shard, n)
    }
  }

  private async get(_req: IncomingMessage, res: ServerResponse, m: RegExpExecArray, url: URL): Promise<void> {
    const id = Number(m[1])
    const epoch = epochParam(url)
    const key = Buffer.from(m[2]!, 'base64url')
    if (key.length === 0) throw new HttpError('BAD_INPUT', 'empty key')
    if (key.length > MAX_KEY_BYTES) throw new HttpError('TOO_LARGE', `key of ${key.length} bytes exceeds ${MAX_KEY_BYTES}`)
    await this.tracked(id, async () => {
      const {shard} = await this.fence(id, epoch, READ_ROLES, 'serve reads')
      const h = keyHashOf(key)
      if (h < shard.range.lo || h >= shard.range.hi) throw new HttpError('BAD_INPUT', `the key hashes to ${h}, outside shard ${id}'s range [${shard.range.lo}, ${shard.range.hi})`, shard.epoch)
      this.deps.meter.read(id, 1, h)
      const rec = this.deps.engine.get(key)
      res.setHeader(EPOCH_HEADER, String(shard.epoch))
      if (!rec) {
        res.setHeader(RECORD_HEADER, 'absent')
        res.writeHead(200, {'content-length': 0}).end()
        return
      }
      res.setHeader(VERSION_HEADER, rec.version)
      res.setHeader(RECORD_HEADER, rec.value === null ? 'tombstone' : 'value')
      const body = rec.value ?? Buffer.alloc(0)
      res.writeHead(200, {'content-type': 'application/octet-stream', 'content-length': body.length}).end(body)
    })
  }

  private async apply(req: IncomingMessage, res: ServerResponse, m: RegExpExecArray, url: URL): Promise<void> {
    const id = Number(m[1])
    const epoch = epochParam(url)
    const kind = (url.searchParams.get('kind') ?? 'write') as ApplyKind
    if (!APPLY_KINDS.includes(kind)) throw new HttpError('BAD_INPUT', `kind must be one of ${APPLY_KINDS.join(', ')}`)
    const replay = replayParam(url)
    await this.tracked(id, async () => {
      // Fence before reading a large body: a refused request costs no body transfer beyond what is in flight.
      await this.fence(id, epoch, WRITE_ROLES, 'take writes')
      const body = await readRequestBody(req, res, MAX_BATCH_BYTES, 'request body')
      let records
      try {
        records = decodeRecords(body)
      } catch (err) {
        if (err instanceof RecordCodecError) throw new HttpError('BAD_INPUT', err.message)
        throw err
      }
      // Admitted before the last fence check: a barrier's accept of a newer epoch waits for it (FencedWrites).
      const admitted = this.writes.admit(id, epoch)
      try {
        await this.applyFenced(res, id, epoch, kind, replay, records, admitted)
      } finally {
        admitted.finish()
      }
    })
  }

  /** applyFenced is an apply request's part after its body: the last fence check, the checks of its records, and the commit. */
  private async applyFenced(res: ServerResponse, id: number, epoch: number, kind: ApplyKind, replay: boolean, records: NodeRecord[], admitted: AdmittedWrite): Promise<void> {
    // Checked at admission too, not only at the request's headers and after the commit: a write
    // whose body came in while the node re-registered after a lapsed lease was admitted after
    // the registration waited for the writes let in before, and fenced on the map the node had
    // (its watch behind, missing a change a barrier passed without it). Committed once the node
    // served again, it was acknowledged at the old epoch with the lease held: at rf 1, past a
    // move's promotion on the source alone, after the verification had compared it
    // (test/integration/node/leaseRejoinBarrier.test.ts). Admitted with the lease held, its
    // fence check below runs on a map listed after the node's alive/<id> (storageNode.ts
    // newMembership), and a lapse before its commit is caught after it.
    if (!(this.deps.leaseHeld?.() ?? true)) {
      throw new HttpError('NOT_SERVING', `node ${this.deps.nodeId} lost its etcd lease while this write to shard ${id} was coming in: not applied; retry`)
    }
    const {shard} = await this.fence(id, epoch, WRITE_ROLES, 'take writes')
    admitted.fencedTo(shard.range)
    if (kind === 'write') this.checkClock(records)
    const hashes: number[] = []
    for (const r of records) {
      if (r.key.length === 0) throw new HttpError('BAD_INPUT', 'empty key')
      const h = keyHashOf(r.key)
      hashes.push(h)
      if (h < shard.range.lo || h >= shard.range.hi) throw new HttpError('BAD_INPUT', `a key hashes to ${h}, outside shard ${id}'s range [${shard.range.lo}, ${shard.range.hi})`, shard.epoch)
    }
    await this.deps.rangeGate?.wait(shard.range)
    const toApply = this.screen(records, kind)
    let result
    try {
      // Only a client's own write reports what its tombstones replaced (deletePriors): a replay's
      // router does not read it, and a hint batch of tombstones would carry one entry each.
      result = await this.deps.engine.apply(toApply, {clientWrite: countsAsClientWrite(kind, replay)})
    } catch (err) {
      if (err instanceof RangeError) throw new HttpError('BAD_INPUT', err.message)
      throw err
    }
    // Checked after the commit, not only when the request came in: a barrier skips a node
    // without alive/<id>, which etcd deletes when the lease expires. A write let in before the
    // lease lapsed and queued behind others can commit after that barrier, while a copy from
    // this node already reads. Committed while the lease was still held, it is in what the copy reads.
    if (!(this.deps.leaseHeld?.() ?? true)) {
      throw new HttpError('NOT_SERVING', `node ${this.deps.nodeId} lost its etcd lease while this write to shard ${id} was committing: not acknowledged (a barrier may have skipped the node); retry`, shard.epoch)
    }
    // A replay (hinted handoff) is applied as the write it repeats but is not client load again.
    if (countsAsClientWrite(kind, replay)) this.deps.meter.write(id, records.length, hashes)
    res.setHeader(EPOCH_HEADER, String(shard.epoch))
    sendJson(res, 200, {epoch: shard.epoch, ...result})
  }

  /** checkClock refuses client writes while this node's clock is out of bounds, or stamped too far ahead of it (CLOCK_OFFSET, retriable). */
  private checkClock(records: readonly {version: string}[]): void {
    const clock = this.deps.clock
    if (!clock) return
    const gate = clock.gate()
    if (!gate.ok) throw new HttpError('CLOCK_OFFSET', `node ${this.deps.nodeId} refuses writes: ${gate.reason}`)
    const now = clock.now()
    for (const r of records) {
      const refusal = versionTooFarAhead(versionWall(r.version), now, clock.maxOffsetMs)
      if (refusal) throw new HttpError('CLOCK_OFFSET', `node ${this.deps.nodeId}: ${refusal}`)
    }
  }

  private async snapshot(_req: IncomingMessage, res: ServerResponse, m: RegExpExecArray, url: URL): Promise<void> {
    const id = Number(m[1])
    const epoch = epochParam(url)
    const {shard} = await this.fence(id, epoch, ADMIN_ROLES, 'serve snapshots')
    const range = subRange(url, shard.range)
    const maxBytes = Math.min(intParam(url, 'maxBytes', DEFAULT_CHUNK_BYTES, 1, Number.MAX_SAFE_INTEGER), MAX_CHUNK_BYTES)
    const cursor = url.searchParams.get('cursor') ?? undefined
    let page
    try {
      // Read and encoded in the copy reader thread, as a copy stream's pages are: a chunk is up to 16 MiB, and this event loop serves clients.
      page = await this.deps.engine.readCopyPage(range, cursor, maxBytes)
    } catch (err) {
      if (err instanceof RangeError) throw new HttpError('BAD_INPUT', err.message)
      throw err
    }
    // The client went away while the page was read: the response would drop the write, and the 'close' the release waits on came already.
    if (res.destroyed) {
      page.release?.()
      return
    }
    // A page in a shared slab (copyPageSlabs.ts) is released once the response (or its connection) closed: every write completed or was cancelled by then.
    if (page.release) onResponseGone(res, page.release)
    res.setHeader(EPOCH_HEADER, String(shard.epoch))
    if (page.cursor) res.setHeader(CURSOR_HEADER, page.cursor)
    res.writeHead(200, {'content-type': RECORDS_CONTENT_TYPE, 'content-length': page.batch.length}).end(page.batch)
  }

  private async digest(_req: IncomingMessage, res: ServerResponse, m: RegExpExecArray, url: URL): Promise<void> {
    const id = Number(m[1])
    const {shard} = await this.readFence(id, epochParam(url), url, 'serve digests')
    // A cutoff newer than the node's limit would cover tombstones a late client write could still shadow.
    const cutoff = url.searchParams.has('tombstonesBefore') ? Math.min(intParam(url, 'tombstonesBefore', 0, 0, Number.MAX_SAFE_INTEGER), this.deps.engine.cutoffLimit()) : undefined
    // At a cutoff, the digest waits for every write screened before this line (each is queued
    // in the turn it passed the screen) to commit. A write older than the cutoff passed its
    // screen only before it (the cutoff stays twice the clock bound below the stale floor
    // now, and that floor only rises), so the digest holds every such write this replica
    // took or will take. Until session 32 it did not wait: a write screened just inside the
    // grace and queued behind a busy writer committed after the digest on the replicas that
    // took it, anti-entropy saw the shard converged and fenced, the fence digests differed
    // (no purge) but every floor stayed above the write, and the replica that refused it
    // could never take it (a repair below the floor is dropped): the shard stayed apart,
    // unpurged, and a heal's verification against that replica never passed
    // (test/repair/racedFenceHeal.inProcess.test.ts).
    if (cutoff !== undefined) await this.deps.engine.writesQueuedBefore()
    const d = this.deps.engine.digest(shard.range, cutoff, formatParam(url.searchParams.has('format') ? intParam(url, 'format', undefined, 1, 1_000_000) : undefined))
    res.setHeader(EPOCH_HEADER, String(shard.epoch))
    sendJson(res, 200, {shard: id, epoch: shard.epoch, range: shard.range, ...d, ...(cutoff === undefined ? {} : {tombstonesBefore: cutoff})})
  }

  /**
   * screen applies the gc rules to an apply batch: a client write (kind `write`) whose
   * version is older than the node's stale floor is refused whole (PRECONDITION: the
   * router fails it or re-issues it with a fresh version; this replica never acknowledges
   * it), since a purge may already have judged that part of history settled; repair values
   * below the gc floor are dropped (they come back from a replica that missed a purged
   * delete). Repair tombstones always pass, however old. Copies pass unchanged: a move's
   * stream comes from a fenced replica, whose floor the destination adopted before its
   * first frame (CopyPuller.adoptSourceFloors), and from then on the floor screens this
   * node's client writes and repairs too.
   */
  private screen(records: NodeRecord[], kind: ApplyKind): readonly NodeRecord[] {
    if (kind === 'write') {
      const floor = this.deps.engine.staleFloor()
      // The gc floor (persisted) also counts: it holds across a restart with a clock that went back.
      const stale = records.find((r) => versionWall(r.version) < Math.max(floor, this.deps.engine.floorOf(keyHashOf(r.key))))
      if (stale) throw new HttpError('PRECONDITION', `a write's version ${stale.version} is older than this node's clock minus its tombstone grace; re-issue it with a fresh version`)
      return records
    }
    return kind === 'repair' ? this.deps.engine.withoutFenced(records) : records
  }

  private async gc(req: IncomingMessage, res: ServerResponse, m: RegExpExecArray, url: URL): Promise<void> {
    const id = Number(m[1])
    const epoch = epochParam(url)
    const body = parseJson(await readRequestBody(req, res, MAX_JSON_BODY_BYTES, 'request body'), GcRequestSchema)
    const {shard} = await this.fence(id, epoch, ADMIN_ROLES, 'collect tombstones')
    const {engine} = this.deps
    res.setHeader(EPOCH_HEADER, String(shard.epoch))
    if (body.phase === 'fence') {
      let d
      let fence: number | undefined
      try {
        // A requester that confirms (since session 33) gets a pending fence; one of an older build a floor at once.
        if (body.pending) ({fence, digest: d} = await engine.fencePending(shard.range, body.before, formatParam(body.format)))
        else d = await engine.fenceBelow(shard.range, body.before, formatParam(body.format))
      } catch (err) {
        if (err instanceof RangeError) throw new HttpError('PRECONDITION', `shard ${id}: ${err.message}; pick an older cutoff`, shard.epoch)
        throw err
      }
      // After the fence (which waited for every apply queued before it, so every record its
      // digest covers is counted as committed): a dir copied before a delete this round may
      // purge would otherwise still match the published mark and serve the deleted value.
      await this.coverWrites(id, shard.epoch)
      sendJson(res, 200, {shard: id, epoch: shard.epoch, range: shard.range, ...d, tombstonesBefore: body.before, ...(fence === undefined ? {} : {fence})})
      return
    }
    if (body.phase === 'confirm') {
      if (body.fence === undefined) throw new HttpError('BAD_INPUT', 'a confirm names the fence it confirms (`fence`: the id its answer carried)', shard.epoch)
      try {
        await engine.confirmFence(shard.range, body.before, body.fence)
      } catch (err) {
        if (err instanceof RangeError) throw new HttpError('PRECONDITION', `shard ${id}: ${err.message}; next run`, shard.epoch)
        throw err
      }
      sendJson(res, 200, {shard: id, epoch: shard.epoch, confirmed: body.before})
      return
    }
    const fenced = engine.fenceOf(shard.range)
    if (body.before > fenced) throw new HttpError('PRECONDITION', `shard ${id} is fenced at ${fenced}, below the purge cutoff ${body.before}; fence it first`, shard.epoch)
    let purged = 0
    for (let i = 0; i < 100; i++) {
      const n = await engine.purgeTombstones(shard.range, body.before, 1000)
      purged += n
      if (n < 1000) break
    }
    // Counted here, from what the purges deleted: a purge commit's record count is not known
    // before it runs (the counter stayed 0), and range drops commit as kind `purge` too.
    this.deps.metrics?.purged(purged)
    if (purged > 0) this.deps.log.info('purged tombstones', {shard: id, epoch: shard.epoch, before: body.before, purged})
    sendJson(res, 200, {shard: id, epoch: shard.epoch, purged})
  }

  /** coverWrites is {@link NodeApiDeps.coverWrites}, its failure a PRECONDITION refusal of the fence (the round purges nothing). */
  private async coverWrites(id: number, epoch: number): Promise<void> {
    if (!this.deps.coverWrites) return
    try {
      await this.deps.coverWrites()
    } catch (err) {
      throw new HttpError('PRECONDITION', `shard ${id}: this node could not publish a write mark covering its commits (${errorMessage(err)}), so no tombstone may be purged yet; next run`, epoch)
    }
  }

  private async buckets(req: IncomingMessage, res: ServerResponse, m: RegExpExecArray, url: URL): Promise<void> {
    const id = Number(m[1])
    const epoch = epochParam(url)
    const body = parseJson(await readRequestBody(req, res, MAX_JSON_BODY_BYTES, 'request body'), BucketsRequestSchema)
    const {shard} = await this.readFence(id, epoch, url, 'list buckets')
    // Read and encoded in the copy reader thread: a listing can be most of a shard, and this event loop serves clients.
    const listing = await this.deps.engine.listBuckets(shard.range, body.buckets, body.maxBytes)
    res.setHeader(EPOCH_HEADER, String(shard.epoch))
    res.setHeader(BUCKETS_ANSWERED_HEADER, String(listing.answered))
    res.writeHead(200, {'content-type': RECORDS_CONTENT_TYPE, 'content-length': listing.batch.length}).end(listing.batch)
  }

  private async inflightOf(_req: IncomingMessage, res: ServerResponse, m: RegExpExecArray): Promise<void> {
    const id = Number(m[1])
    const epoch = this.deps.map.get(id)?.epoch ?? 0
    res.setHeader(EPOCH_HEADER, String(epoch))
    sendJson(res, 200, {shard: id, epoch, inflight: this.inflightFor(id)})
  }

  private async accept(req: IncomingMessage, res: ServerResponse, m: RegExpExecArray): Promise<void> {
    const id = Number(m[1])
    const {epoch} = parseJson(await readRequestBody(req, res, MAX_JSON_BODY_BYTES, 'request body'), AcceptRequestSchema)
    let shard = this.deps.map.get(id)
    if (!shard || shard.epoch < epoch) shard = await this.refresh(id)
    if (!shard) throw new HttpError('NOT_OWNER', `shard ${id} does not exist`, 0)
    if (shard.epoch < epoch) throw new HttpError('PRECONDITION', `shard ${id} is at epoch ${shard.epoch} in etcd; cannot accept ${epoch}`, shard.epoch)
    // A write let in at an older epoch and still queued would be acknowledged after this barrier (FencedWrites).
    // So would one let in under a split's parent whose range covered part of this shard's.
    if (!(await this.writes.olderSettled(id, epoch, shard.range, this.deps.acceptWaitMs ?? ACCEPT_WAIT_MS))) {
      throw new HttpError('NOT_SERVING', `shard ${id}: ${this.writes.pendingBefore(id, epoch, shard.range)} write(s) let in before epoch ${epoch} (or under an older shard overlapping its range) are still committing; ask again`, shard.epoch)
    }
    res.setHeader(EPOCH_HEADER, String(shard.epoch))
    sendJson(res, 200, {shard: id, epoch: shard.epoch, role: this.deps.map.roleOf(shard) ?? null, range: shard.range})
  }

  private async drop(req: IncomingMessage, res: ServerResponse, m: RegExpExecArray): Promise<void> {
    const id = Number(m[1])
    const body = parseJson(await readRequestBody(req, res, MAX_JSON_BODY_BYTES, 'request body'), DropRequestSchema)
    // Decide on a fresh read: dropping data is the one irreversible operation.
    const shard = await this.refresh(id)
    if (!shard) throw new HttpError('NOT_OWNER', `shard ${id} does not exist`, 0)
    if (shard.epoch > body.epoch) throw new HttpError('STALE_EPOCH', `shard ${id} is at epoch ${shard.epoch}; the request carried ${body.epoch}`, shard.epoch)
    if (shard.epoch < body.epoch) throw new HttpError('BAD_INPUT', `shard ${id}: epoch ${body.epoch} is newer than etcd's ${shard.epoch}`, shard.epoch)
    const range = body.range ?? shard.range
    if (range.lo < shard.range.lo || range.hi > shard.range.hi) throw new HttpError('BAD_INPUT', `range [${range.lo}, ${range.hi}) is not inside shard ${id}'s [${shard.range.lo}, ${shard.range.hi})`, shard.epoch)
    const held = this.holderOf(range)
    if (held) throw new HttpError('PRECONDITION', `node ${this.deps.nodeId} is still ${held.role} for shard ${held.shard.id} (epoch ${held.shard.epoch}), which overlaps the range to drop`, shard.epoch)
    // A copy still pulling into this range would write behind the drop; its cursor would skip what the drop removed.
    await this.copies?.forget(id)
    let deleted: number
    try {
      // Fenced between transactions: a shard that moves back here while its old copy is
      // being dropped stops the drop before any of its new data could be deleted.
      deleted = await this.deps.engine.deleteRange(range, () => this.holderOf(range) === undefined)
    } catch (err) {
      if (!(err instanceof RangeDropStoppedError)) throw err
      const now = this.holderOf(range)
      this.deps.log.info('stopped dropping shard data: the range is held again', {shard: id, epoch: shard.epoch, deleted: err.deleted, heldBy: now?.shard.id, role: now?.role})
      throw new HttpError('PRECONDITION', `node ${this.deps.nodeId} stopped dropping shard ${id}'s range after ${err.deleted} record(s): it is ${now?.role ?? 'again a replica'} for shard ${now?.shard.id ?? id} (epoch ${now?.shard.epoch ?? '?'}), which overlaps it`, shard.epoch)
    }
    this.deps.log.info('dropped shard data', {shard: id, epoch: shard.epoch, deleted})
    res.setHeader(EPOCH_HEADER, String(shard.epoch))
    sendJson(res, 200, {shard: id, epoch: shard.epoch, deleted})
  }

  /** holderOf names a shard overlapping `range` that this node holds in a role other than leaving (its data must stay), if any. */
  private holderOf(range: HashRange): {shard: Shard; role: ReplicaRole} | undefined {
    for (const s of this.deps.map.all()) {
      const role = this.deps.map.roleOf(s)
      if (role && role !== 'leaving' && s.range.lo < range.hi && range.lo < s.range.hi) return {shard: s, role}
    }
    return undefined
  }

  /** stream serves a copy stream of the shard (source side, see copyStreamSource.ts), throttled by the node's send bucket. */
  private async stream(_req: IncomingMessage, res: ServerResponse, m: RegExpExecArray, url: URL): Promise<void> {
    const copy = this.requireCopy()
    const id = Number(m[1])
    const epoch = epochParam(url)
    const {shard} = await this.fence(id, epoch, ADMIN_ROLES, 'serve copies')
    const frameBytes = intParam(url, 'frameBytes', frameBytesFor(null, DEFAULT_CHUNK_BYTES), 4096, MAX_CHUNK_BYTES)
    const cursor = url.searchParams.get('cursor') ?? undefined
    if (cursor !== undefined) {
      try {
        this.deps.engine.scan(shard.range, cursor, 1) // validates the cursor before the 200 goes out
      } catch (err) {
        if (err instanceof RangeError) throw new HttpError('BAD_INPUT', err.message)
        throw err
      }
    }
    const pace = paceParam(url)
    res.setHeader(EPOCH_HEADER, String(shard.epoch))
    // The gc floors over the range go with the copy: the destination adopts them before its
    // first frame, so a longer grace there cannot let in a value a purge here settled (see
    // CopyPuller.adoptSourceFloors). Read after the fence check: a gc fence only raises them.
    res.setHeader(GC_FLOORS_HEADER, encodeGcFloors(this.deps.engine.floorsOver(shard.range)))
    res.writeHead(200, {'content-type': COPY_STREAM_CONTENT_TYPE})
    // The stream's own bucket (when the destination named its move): the source keeps the move's rate itself instead of running ahead of it by the buffers in between (see StreamPaces).
    const paced = pace ? this.paces.open(id, pace) : undefined
    const outcome = await writeCopyStream(
      {
        engine: this.deps.engine,
        range: shard.range,
        cursor,
        frameBytes,
        fenceLost: () => {
          if (this.deps.draining()) return `node ${this.deps.nodeId} is shutting down`
          const now = this.deps.map.get(id)
          if (!now || now.epoch !== epoch) return `shard ${id} moved past epoch ${epoch}`
          const role = this.deps.map.roleOf(now)
          return role && ADMIN_ROLES.has(role) ? undefined : `node ${this.deps.nodeId} no longer holds shard ${id}`
        },
        buckets: [copy.throttles.send],
        ...(paced ? {pace: paced.bucket} : {}),
        sleep: copy.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms))),
        onBytes: (n) => this.deps.metrics?.copiedOut(n),
      },
      res,
    ).finally(() => paced?.close())
    if (outcome === 'fenced') this.deps.log.warn('copy stream stopped: fence lost', {shard: id, epoch})
  }

  /** streamRate changes the rate of the copy streams this node serves for the shard and move (source side; see StreamPaces). */
  private async streamRate(req: IncomingMessage, res: ServerResponse, m: RegExpExecArray): Promise<void> {
    this.requireCopy()
    const body = parseJson(await readRequestBody(req, res, MAX_JSON_BODY_BYTES, 'request body'), StreamRateRequestSchema)
    sendJson(res, 200, {streams: this.paces.setRate(Number(m[1]), body.move, body.rate, body.stream)})
  }

  /** pull starts, resumes or re-rates the shard's copy into this node (destination side), fenced as a write at the request's epoch. */
  private async pull(req: IncomingMessage, res: ServerResponse, m: RegExpExecArray): Promise<void> {
    const copies = this.requireCopy() && this.copies!
    const id = Number(m[1])
    const body = parseJson(await readRequestBody(req, res, MAX_JSON_BODY_BYTES, 'request body'), PullRequestSchema)
    await this.fence(id, body.epoch, WRITE_ROLES, 'take copies')
    sendJson(res, 200, copies.pull({...body, shard: id}))
  }

  /** pullStatus reports the shard's copy; with `wait=MS` (at most MAX_PULL_WAIT_MS) it answers once a running copy ends or MS passed (a long poll). */
  private async pullStatus(_req: IncomingMessage, res: ServerResponse, m: RegExpExecArray, url: URL): Promise<void> {
    const copies = this.requireCopy() && this.copies!
    const waitMs = intParam(url, 'wait', 0, 0, MAX_PULL_WAIT_MS)
    sendJson(res, 200, await copies.settled(Number(m[1]), waitMs))
  }

  private async pullCancel(_req: IncomingMessage, res: ServerResponse, m: RegExpExecArray, url: URL): Promise<void> {
    const copies = this.requireCopy() && this.copies!
    sendJson(res, 200, await copies.cancel(Number(m[1]), url.searchParams.get('move') ?? undefined))
  }

  /** throttle sets the node's copy send/receive rates (live: the next frame spends at the new rate). */
  private async throttle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const copy = this.requireCopy()
    const body = parseJson(await readRequestBody(req, res, MAX_JSON_BODY_BYTES, 'request body'), ThrottleRequestSchema)
    copy.throttles.set(body)
    sendJson(res, 200, copy.throttles.rates())
  }

  private requireCopy(): NonNullable<NodeApiDeps['copy']> {
    if (!this.deps.copy) throw new HttpError('NOT_FOUND', 'this node does not serve node-to-node copies')
    return this.deps.copy
  }

  private async stats(_req: IncomingMessage, res: ServerResponse): Promise<void> {
    sendJson(res, 200, this.status())
  }

  /** status is the node's view: held shards with role, epoch, load and in-flight counts. */
  status(): NodeStatusResponse {
    const held = this.deps.map.held()
    // As of the acknowledged writes: this runs on the event loop for every scrape (see ackedRangeTotalsMany).
    const sizes = this.deps.engine.ackedRangeTotalsMany(held.map(({shard}) => shard.range))
    const shards = held.map(({shard, role}, i) => {
      const totals = sizes[i] ?? {keys: 0, bytes: 0}
      return {shard: shard.id, epoch: shard.epoch, role, inflight: this.inflightFor(shard.id), ...this.deps.meter.rate(shard.id), bytes: totals.bytes, keys: totals.keys}
    })
    return {node: this.deps.nodeId, serving: this.deps.serving(), mapRevision: this.deps.map.mapRevision().toString(), shards, storage: {...this.deps.engine.totals(), ...(this.deps.reserve ? {reserve: this.deps.reserve()} : {})}}
  }

  private fail(req: IncomingMessage, res: ServerResponse, err: unknown): void {
    let body: ErrorBody
    let status: number
    if (err instanceof UserError) {
      status = HTTP_STATUS[err.code]
      body = {code: err.code, message: err.message, ...(err instanceof HttpError && err.epoch !== undefined ? {epoch: err.epoch} : {}), ...(err instanceof StorageFullError ? {storageFull: true as const} : {})}
      if (err instanceof HttpError && err.epoch !== undefined && !res.headersSent) res.setHeader(EPOCH_HEADER, String(err.epoch))
    } else {
      status = 500
      body = {code: 'INTERNAL', message: 'internal error'}
      this.deps.log.error('request failed', {method: req.method, path: (req.url ?? '').split('?')[0], error: errorMessage(err), stack: err instanceof Error ? err.stack : undefined})
    }
    if (res.headersSent) {
      res.destroy()
      return
    }
    // Refused before its body was read (a bad token or parameter, a fence): settled as the
    // router settles its refusals (settleUnreadBody). Answering and closing on unread bytes
    // makes the kernel reset the connection, which discards the answer too: a client still
    // uploading a 4 MiB apply saw EPIPE instead of the 400 or 401 that says why. On a
    // connection that closes after the answer (the client's `connection: close`, a draining
    // node's) a bounded rest is read first; on a keep-alive one the body flows and is read
    // off the wire before the next request. A body readRequestBody already read or drained is left alone.
    void settleUnreadBody(req, res).then(() => {
      if (!res.headersSent && !res.destroyed) sendJson(res, status, body)
    })
  }
}

/**
 * startingHandler answers while the node's listener is open but its storage and API are not
 * (the node listens before it opens its data dir, so a taken --listen port is found before
 * anything is created on disk): /healthz says `serving: false` with the node id and instance
 * (a second starter probing this address tells it from the process it replaces), every other
 * request 503 NOT_SERVING, retriable as during any start.
 */
export function startingHandler(nodeId: string, instance: string): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const path = (req.url ?? '/').split('?')[0]
    if (path === '/healthz' && req.method === 'GET') {
      sendJson(res, 200, {node: nodeId, serving: false, clock: Date.now(), instance})
      return
    }
    void settleUnreadBody(req, res).then(() => {
      if (!res.headersSent && !res.destroyed) sendJson(res, HTTP_STATUS.NOT_SERVING, {code: 'NOT_SERVING', message: 'node is not serving (starting)'})
    })
  }
}

function sendJson(res: ServerResponse, status: number, value: unknown): void {
  const body = Buffer.from(JSON.stringify(value))
  res.writeHead(status, {'content-type': 'application/json', 'content-length': body.length}).end(body)
}

/**
 * paceParam is the stream's own pace, when the destination named its move (`move`, and
 * `rate` in bytes/s; no `rate`: unlimited until the destination sets one; `stream`: the
 * id its rate changes name it by).
 */
function paceParam(url: URL): StreamPace | undefined {
  const move = url.searchParams.get('move')
  const raw = url.searchParams.get('rate')
  const stream = url.searchParams.get('stream')
  if (move === null) {
    if (raw !== null || stream !== null) throw new HttpError('BAD_INPUT', `query parameter ${raw !== null ? 'rate' : 'stream'} needs move (the move whose stream it is)`)
    return undefined
  }
  if (move.length === 0 || move.length > 200) throw new HttpError('BAD_INPUT', 'query parameter move must be 1 to 200 characters')
  if (stream !== null && (stream.length === 0 || stream.length > 100)) throw new HttpError('BAD_INPUT', 'query parameter stream must be 1 to 100 characters')
  const named = stream === null ? {} : {stream}
  if (raw === null) return {move, rate: null, ...named}
  const rate = Number(raw)
  if (!/^\d{1,16}(\.\d{1,6})?$/.test(raw) || !(rate > 0)) throw new HttpError('BAD_INPUT', `query parameter rate must be a positive number of bytes per second, not ${JSON.stringify(raw.slice(0, 40))}`)
  return {move, rate, ...named}
}

function epochParam(url: URL): number {
  return intParam(url, 'epoch', undefined, 1, Number.MAX_SAFE_INTEGER)
}

/**
 * formatParam is the record hash format a digest request asked for: none is
 * {@link LEGACY_RECORD_HASH_FORMAT} (a requester of a build before formats were
 * exchanged compares at it); one this build cannot compute is BAD_INPUT.
 */
function formatParam(format: number | undefined): RecordHashFormat {
  if (format === undefined) return LEGACY_RECORD_HASH_FORMAT
  if (!isRecordHashFormat(format)) throw new HttpError('BAD_INPUT', `record hash format ${format} is not one this node computes (2 or 3); ask for one of those, or upgrade the node`)
  return format
}

/** applyLabel is an apply's kind for the node's metrics: its `kind`, with a replayed write (hinted handoff, `replay=1`) as `replay`, apart from client writes. */
function applyLabel(url: URL): string {
  const kind = url.searchParams.get('kind') ?? 'write'
  return kind === 'write' && url.searchParams.get(REPLAY_PARAM) === '1' ? 'replay' : kind
}

/** replayParam reads `replay` (see REPLAY_PARAM): absent or 0 is a write as the client made it, 1 a replay; anything else is BAD_INPUT. */
function replayParam(url: URL): boolean {
  const raw = url.searchParams.get(REPLAY_PARAM)
  if (raw === null || raw === '0') return false
  if (raw === '1') return true
  throw new HttpError('BAD_INPUT', `query parameter ${REPLAY_PARAM} must be 0 or 1`)
}

function intParam(url: URL, name: string, dflt: number | undefined, min: number, max: number): number {
  const raw = url.searchParams.get(name)
  if (raw === null) {
    if (dflt === undefined) throw new HttpError('BAD_INPUT', `query parameter ${name} is required`)
    return dflt
  }
  if (!/^\d{1,16}$/.test(raw)) throw new HttpError('BAD_INPUT', `query parameter ${name} must be an integer`)
  const n = Number(raw)
  if (n < min || n > max) throw new HttpError('BAD_INPUT', `query parameter ${name} must be in ${min}..${max}`)
  return n
}

function subRange(url: URL, shardRange: HashRange): HashRange {
  if (!url.searchParams.has('lo') && !url.searchParams.has('hi')) return shardRange
  const lo = intParam(url, 'lo', shardRange.lo, 0, HASH_SPACE - 1)
  const hi = intParam(url, 'hi', shardRange.hi, 1, HASH_SPACE)
  if (lo >= hi || lo < shardRange.lo || hi > shardRange.hi) throw new HttpError('BAD_INPUT', `range [${lo}, ${hi}) is not a non-empty part of the shard's [${shardRange.lo}, ${shardRange.hi})`)
  return {lo, hi}
}

function parseJson<S extends z.ZodType>(buf: Buffer, schema: S): z.output<S> {
  let value: unknown
  try {
    value = JSON.parse(buf.toString('utf8'))
  } catch {
    throw new HttpError('BAD_INPUT', 'request body is not JSON')
  }
  const r = schema.safeParse(value)
  if (!r.success) {
    const issue = r.error.issues[0]
    throw new HttpError('BAD_INPUT', `invalid request body: ${issue ? `${issue.path.join('.') || '(root)'}: ${issue.message}` : 'invalid'}`)
  }
  return r.data
}
