import {hostname} from 'node:os'
import {type AddressInfo, type Server} from 'node:net'
import {getMeta} from '../cluster/clusterRepo.js'
import {warnOnEtcdBugs} from '../etcd/etcdVersionCheck.js'
import {LeasedMembership} from '../store/leasedMembership.js'
import {type Compare} from '../store/store.js'
import {type ServiceContext} from '../cluster/serviceContext.js'
import {UserError, errorMessage} from '../errors/errors.js'
import {grantLease, type LeaseHandle} from '../etcd/leaseHandle.js'
import {HybridClock} from '../model/hlc.js'
import {loadClusterToken} from '../node/clusterToken.js'
import {type NodeClient} from '../node/nodeClient.js'
import {NodeClients} from '../node/nodeClients.js'
import {ClockMonitor} from '../clock/clockMonitor.js'
import {DEFAULT_MAX_CLOCK_OFFSET_MS} from '../clock/clockOffsetTracker.js'
import {parseListen} from '../model/units.js'
import {ApplyBatcher} from './applyBatcher.js'
import {Coordinator} from './coordinator.js'
import {hintDelivery} from './hintDelivery.js'
import {HINT_DEFAULTS, HintQueue, placeHint} from './hintQueue.js'
import {ClientTally} from './clientTally.js'
import {LatencyPublisher} from './latencyPublisher.js'
import {LatencyWindow} from './latencyWindow.js'
import {DEFAULT_RECENT_LATENCY, RecentLatency} from './recentLatency.js'
import {ReadRepairQueue} from './readRepairQueue.js'
import {createRouterHttp, type RouterHttp} from './routerHttp.js'
import {RouterMetrics} from './routerMetrics.js'
import {RouterRegistration} from './routerRegistration.js'
import {FloorFenceError, recordWriteQuorum, registrationGaveUp} from './writeFloorRecord.js'
import {nodeClientLookup, type NodeClientLookup} from './nodeClientLookup.js'
import {fenceHolds, fenceNamesAbsentFloor, LapsedServing} from './lapsedServing.js'
import {ShardMapView} from './shardMapView.js'
import {authorize} from '../security/accessControl.js'
import {AuthFollower} from '../security/authFollower.js'
import {requireTransportAllowed} from '../security/clusterSecurity.js'
import {credentialsOf} from '../security/requestCredentials.js'
import {type TlsMaterial} from '../transport/tlsMaterial.js'
import {setDefaultClientTls} from '../transport/clientTls.js'
import {reloadServerTls} from '../transport/dataPlaneServer.js'
import {TlsReloader} from '../transport/tlsReloader.js'

/**
 * ROUTER_NODE_TIMEOUT_MS is the router's default bound on one request to one node: its node
 * pools, hint deliveries and the coordinator's replica requests (`router serve
 * --node-timeout`'s default, written there as 2s). Why 2 s: a replica request that times
 * out counts as a failed apply (hinted if the write reached another replica), so the bound sits far above a loaded
 * node's answers (at 2 s, 1 of 7 rebalance-under-load e2e runs saw any TIMEOUT, at load above
 * 20: docs/data-plane.md, hinted handoff); and well under the 5 s request timeout, which
 * bounds the whole request with its retries (the coordinator cuts each node request to the
 * time left), so a request that waited out one node's bound still has time to refresh the
 * map and retry.
 */
export const ROUTER_NODE_TIMEOUT_MS = 2000

/** RouterServeOptions configure one router process. Durations are milliseconds. */
export interface RouterServeOptions {
  /** id names the router in etcd (`routers/<id>`) and is the HLC writer id of its writes. */
  id?: string
  /** listen is `host:port` (port 0 picks a free one; the running router reports the real address). */
  listen: string
  w?: number
  r?: number
  /** nodeTimeoutMs bounds one request to one node (default {@link ROUTER_NODE_TIMEOUT_MS}). */
  nodeTimeoutMs?: number
  requestTimeoutMs?: number
  staleRetries?: number
  leaseTtlSeconds?: number
  heartbeatMs?: number
  repairQueueCapacity?: number
  repairConcurrency?: number
  /** connections caps each node's keep-alive pool. */
  connections?: number
  /** maxClockOffsetMs is the cluster's clock bound (default 500): the router refuses writes while its clock is off its peers by more. */
  maxClockOffsetMs?: number
  /** log receives operational lines (never tokens, keys or values). */
  log?: (line: string) => void
  /** tls: serve HTTPS and dial nodes over mutual TLS with this certificate (it must allow serverAuth and clientAuth: `cert create-node`). */
  tls?: TlsMaterial
  /** tlsPollMs: how often the TLS files are polled for rotation, beside file events and SIGHUP (default 2000). */
  tlsPollMs?: number
}

/** RunningRouter is a serving router. */
export interface RunningRouter {
  id: string
  /** address is the `host:port` it listens on. */
  address: string
  cluster: string
  /** stop drains: stops accepting, finishes in-flight requests up to `drainTimeoutMs`, deregisters, closes pools. */
  stop(drainTimeoutMs: number): Promise<{drained: boolean; inflightAtDeadline: number}>
}

/** defaultRouterId is `<host>-<pid>` made safe for an etcd key and an HLC writer id. */
export function defaultRouterId(): string {
  const host = hostname().replace(/[^A-Za-z0-9_.-]/g, '-').slice(0, 40) || 'router'
  return `${host}-${process.pid}`
}

/**
 * startRouter loads the cluster (meta, token, shard map, node addresses), starts the
 * client API on `listen`, registers the router under its lease and returns once it serves.
 *
 * While serving it follows the map by watch (registration updated after each change, and
 * every `heartbeatMs` with the client p99 and request/error totals), drains the pools of nodes that left the map,
 * and, when its lease lapses, stops serving (503 NOT_SERVING) until it has re-read the map
 * and confirmed that the write floor it registered under still stands (LapsedServing), while
 * it registers again under a new lease. An executor's barrier may ignore routers without a
 * lease: every request carries the shard's epoch and live replicas refuse older ones.
 *
 * Throws UserError: NOT_FOUND (no such cluster), BAD_INPUT (listen address), ALREADY_EXISTS
 * (router id in use), ETCD_UNREACHABLE (also when the write floor cannot be lowered to its
 * `--w`), CONFLICT (the floor kept changing, or the cluster's floor or meta changed in each round of
 * lowering it and registering); the listen error when the port is taken.
 */
export async function startRouter(ctx: ServiceContext, opts: RouterServeOptions): Promise<RunningRouter> {
  const id = routerIdOf(opts)
  const {host, port} = listenOf(opts.listen)
  const log = opts.log ?? (() => {})
  await getMeta(ctx)
  await requireTransportAllowed(ctx, opts.tls, `router ${id}`)
  const token = await loadClusterToken(ctx)
  const auth = new AuthFollower(ctx, {log})
  await auth.start()

  let serving = (): boolean => false
  let drainEnded = false
  let registration: RouterRegistration | undefined
  let lastP99: number | null = null
  /** fence: what the newest registration was fenced on (the write floor covering this router), for a lapsed router's confirmations. */
  let fence: readonly Compare[] | undefined
  /** nudgeLapsed: a map change asks a lapsed router for a confirmation at once (LapsedServing.nudge); set once it exists. */
  let nudgeLapsed = (): void => {}
  const parts = await startRouterParts(ctx, id, opts, token, log, () => {
    registration?.update()
    nudgeLapsed()
  })
  const {latency, clients, clockMonitor, view} = parts
  const lapsed = lapsedServing(ctx, opts, log, view, () => fence)
  nudgeLapsed = () => lapsed.nudge()
  const latencyPublisher = new LatencyPublisher(ctx, id)

  const http = routerHttp(id, opts, parts, auth, log, () => serving())
  const address = await listenOn(http.server, host, port, opts.listen, () => {
    void view.close()
    void auth.stop()
  })

  // Registration lives and dies with the lease: when it lapses the router stops serving
  // (503 NOT_SERVING) until it has re-read the map and confirmed the write floor below
  // (LapsedServing), and re-registers under a new lease meanwhile.
  // Before each registration (and so before any client write it acknowledges), the cluster's
  // write floor covers this router's --w: a move whose source is down counts it even after
  // this router has gone (src/router/writeFloorRecord.ts).
  const membership = routerMembership(ctx, opts, log, view, async (lease) => {
    // The registration is fenced on the floor as lowered (and the cluster it was lowered in):
    // if either changed meanwhile (cluster init --force), lower it again.
    for (let attempt = 1; ; attempt++) {
      const lowered = await recordWriteQuorum(ctx, {id, w: opts.w ?? null})
      try {
        registration = await registerRouter(ctx, {id, address, w: opts.w, parts, p99: () => lastP99, onLost: (l, err) => membership.lose(l, err)}, lease, lowered)
        fence = lowered
        break
      } catch (err) {
        if (!(err instanceof FloorFenceError)) throw err
        if (attempt >= REGISTER_FENCE_ATTEMPTS) throw registrationGaveUp(id, REGISTER_FENCE_ATTEMPTS)
      }
    }
    latencyPublisher.attach(lease)
  }, lapsed)
  // A lapsed router serves again on its re-read map before it has a new lease (LapsedServing: nodes fence every request by epoch).
  serving = () => !drainEnded && (membership.held() || lapsed.serving())

  try {
    await membership.start()
  } catch (err) {
    await http.drain(0)
    lapsed.stop()
    await view.close()
    await auth.stop()
    await clients.close()
    throw err
  }

  clockMonitor.start()
  void warnOnEtcdBugs(ctx.store, (line) => log(`WARNING: ${line}`), log)
  const tlsReloader = startTlsReloader(opts, http.server, clients, log)
  const heartbeat = setInterval(() => {
    lastP99 = latency.takeP99()
    registration?.update()
  }, opts.heartbeatMs ?? 5000)
  heartbeat.unref()
  // The short-window p99 `--throttle auto` follows: a fresh report every slice, on its own small key.
  const latencySlices = setInterval(() => latencyPublisher.publish(parts.recent.rotate(), parts.recent.steady(), Date.now()), DEFAULT_RECENT_LATENCY.sliceMs)
  latencySlices.unref()

  return {
    id,
    address,
    cluster: ctx.cluster,
    async stop(drainTimeoutMs: number) {
      clearInterval(heartbeat)
      clearInterval(latencySlices)
      latencyPublisher.stop()
      tlsReloader?.stop()
      await clockMonitor.stop()
      const atDeadline = http.inflight()
      const drained = await http.drain(drainTimeoutMs)
      drainEnded = true
      const left = drained ? 0 : Math.max(0, http.inflight() || atDeadline)
      lapsed.stop()
      await closeRouter(parts, registration, membership, auth)
      return {drained, inflightAtDeadline: left}
    },
  }
}

/** routerIdOf is the router's id (`--id`, else one derived from the host and pid), checked. */
function routerIdOf(opts: RouterServeOptions): string {
  const id = opts.id ?? defaultRouterId()
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(id)) throw new UserError('BAD_INPUT', `router id "${id}" must be 1-64 letters, digits, "_", "." or "-"`, 'pick an id such as r1, or leave --id out for <host>-<pid>')
  return id
}

/**
 * startTlsReloader follows the router's certificate, key and CA files (rotation without a
 * restart): new client connections get the new certificate and CA bundle, and node pools are
 * re-dialled with them. Undefined on a plaintext router.
 */
function startTlsReloader(opts: RouterServeOptions, server: Parameters<typeof reloadServerTls>[0], clients: {renew(next: NonNullable<RouterServeOptions['tls']>): void}, log: (msg: string) => void): TlsReloader | undefined {
  if (!opts.tls) return undefined
  const reloader = new TlsReloader({
    initial: opts.tls,
    pollMs: opts.tlsPollMs,
    apply: (next) => {
      reloadServerTls(server, next)
      setDefaultClientTls(next)
      clients.renew(next)
    },
    report: (e) => log(e.kind === 'reloaded' ? `reloaded TLS files: serving ${e.summary.subject} issued by ${e.summary.issuer} (until ${e.summary.notAfter}, sha256 ${e.summary.fingerprint}), trusting ${e.summary.trustedCas} CA(s)` : e.message),
  })
  reloader.start()
  return reloader
}

/** RouterParts are the pieces of a router that exist before it listens: they serve every request. */
interface RouterParts {
  metrics: RouterMetrics
  latency: LatencyWindow
  /** recent keeps the newest latencies in one-second slices for the published short-window p99. */
  recent: RecentLatency
  tally: ClientTally
  clients: NodeClients
  clockMonitor: ClockMonitor
  view: ShardMapView
  repairs: ReadRepairQueue
  hints: HintQueue
  coordinator: Coordinator
}

/**
 * startRouterParts builds what answers requests — node pools, the clock monitor, the shard
 * map followed by watch (started here: it resolves once the map is read), the read-repair
 * queue and the coordinator. `onMapChange` runs after each map change (the registration
 * re-publishes the epochs it acknowledges).
 */
async function startRouterParts(ctx: ServiceContext, id: string, opts: RouterServeOptions, token: Awaited<ReturnType<typeof loadClusterToken>>, log: (line: string) => void, onMapChange: () => void): Promise<RouterParts> {
  const metrics = new RouterMetrics()
  const nodeTimeoutMs = opts.nodeTimeoutMs ?? ROUTER_NODE_TIMEOUT_MS
  const clients = new NodeClients({token, tls: opts.tls, timeoutMs: nodeTimeoutMs, connections: opts.connections ?? 32, observe: (node, op, seconds, outcome) => metrics.upstream(node, op, seconds, outcome)})
  const clockMonitor = new ClockMonitor(ctx, {
    self: `router:${id}`,
    maxOffsetMs: opts.maxClockOffsetMs ?? DEFAULT_MAX_CLOCK_OFFSET_MS,
    onChange: (v) => log(v.ok ? `clock back within bounds (offset ${v.offsetMs} ms): taking writes again` : `clock out of bounds, refusing writes: ${v.reason}`),
  })
  const view = new ShardMapView(ctx, {
    onChange: () => {
      metrics.mapRevision.set(Number(view.mapRevision()))
      const drained = clients.retain(view.table().nodes())
      if (drained.length > 0) log(`drained connection pools of nodes no longer in the map: ${drained.join(', ')}`)
      onMapChange()
    },
    onInvalid: (key, message) => log(`ignoring invalid value at ${key}: ${message}`),
  })
  await view.start()
  const nodeClient = nodeClientLookup(view, clients)
  const repairs = new ReadRepairQueue({
    capacity: opts.repairQueueCapacity ?? 1024,
    concurrency: opts.repairConcurrency ?? 4,
    apply: async (t) => {
      const client = nodeClient(t.node)
      if (!client) throw new Error(`node ${t.node} has no address`)
      await client.apply(t.shard, t.epoch, [t.record], 'repair')
    },
    onOutcome: (o) => metrics.repair(o),
  })
  const hints = routerHints(nodeTimeoutMs, {view, metrics}, nodeClient)
  const coordinator = routerCoordinator(id, opts, nodeTimeoutMs, {view, metrics, repairs, hints, clockMonitor}, nodeClient)
  return {metrics, latency: new LatencyWindow(), recent: new RecentLatency(), tally: new ClientTally(), clients, clockMonitor, view, repairs, hints, coordinator}
}

/**
 * routerHints builds the hinted-handoff queue: records a replica missed are re-applied
 * (kind `write`, the same version, marked a replay so the node does not count them as
 * client load) to that replica at the epoch of the router's current map, only while the
 * replica still holds the key's shard there.
 *
 * The queue times its backoffs and its 30 s age bound on the monotonic clock: they are
 * durations, and nothing in it is compared with a record's version. On the wall clock an
 * NTP step of the router's clock expired every pending hint at once (a step forward past
 * the age bound) or held every retry back by as long as the step (a step back).
 */
export function routerHints(nodeTimeoutMs: number, p: Pick<RouterParts, 'view' | 'metrics'>, nodeClient: NodeClientLookup): HintQueue {
  const queue: HintQueue = new HintQueue({
    ...HINT_DEFAULTS,
    place: (node, key) => placeHint(p.view.table(), node, key),
    deliver: hintDelivery({
      node: nodeClient,
      timeoutMs: nodeTimeoutMs,
    }),
    refresh: (shard) => void p.view.refresh(shard).catch(() => {}),
    now: () => performance.now(),
    startTimer: (fn, ms) => {
      const t = setTimeout(fn, ms)
      t.unref()
      return () => clearTimeout(t)
    },
    onEvent: (event, count) => {
      p.metrics.hint(event, count)
      p.metrics.hintsPending.set(queue.size)
    },
  })
  return queue
}

/** routerCoordinator wires the quorum coordinator to the map, the node pools (one ApplyBatcher per pool), the clock and read repair. */
function routerCoordinator(id: string, opts: RouterServeOptions, nodeTimeoutMs: number, p: Pick<RouterParts, 'view' | 'metrics' | 'repairs' | 'hints' | 'clockMonitor'>, nodeClient: NodeClientLookup): Coordinator {
  // One ApplyBatcher per pool: concurrent writes to one shard on one node share a request.
  const batchers = new WeakMap<NodeClient, ApplyBatcher>()
  return new Coordinator({
    map: p.view,
    node: (node) => {
      const client = nodeClient(node)
      if (!client) return undefined
      let batcher = batchers.get(client)
      if (!batcher) {
        batcher = new ApplyBatcher(client, {maxRecords: 256, maxBytes: 4 * 1024 * 1024, node})
        batchers.set(client, batcher)
      }
      return batcher
    },
    // Capped at twice the clock bound (two in-bounds members can be that far apart, and a re-issue must reach
    // the other's version): a far-future version seen on a read must not push every later write beyond what nodes accept.
    clock: new HybridClock(id, Date.now, 2 * (opts.maxClockOffsetMs ?? DEFAULT_MAX_CLOCK_OFFSET_MS)),
    now: Date.now,
    repair: (t) => p.repairs.enqueue(t),
    hint: (h) => p.hints.add(h),
    writeGate: p.clockMonitor.writeGate,
    options: {
      quorum: {w: opts.w, r: opts.r},
      nodeTimeoutMs,
      requestTimeoutMs: opts.requestTimeoutMs ?? 5000,
      staleRetries: opts.staleRetries ?? 3,
    },
    hooks: {staleEpochRetry: () => p.metrics.staleEpochRetry(), quorumFailure: (op) => p.metrics.quorumFailure(op), writeReissued: () => p.metrics.writeReissued(), refusalRetry: (op) => p.metrics.refusalRetry(op), replicaApplyFailed: (reason, duringMove) => p.metrics.replicaApplyFailed(reason, duringMove)},
  })
}

/**
 * routerMembership keeps the router registered under a lease: `register` runs with each new
 * lease, after the map was re-read when recovering from a lost one. Registration lives and
 * dies with the lease: when it lapses the router stops serving (503 NOT_SERVING) until
 * `lapsed` lets it serve again (map re-read, floor confirmed) or it has re-read the map and
 * registered under a new lease.
 */
function routerMembership(ctx: ServiceContext, opts: RouterServeOptions, log: (line: string) => void, view: ShardMapView, register: (lease: Awaited<ReturnType<typeof grantLease>>) => Promise<void>, lapsed: LapsedServing): LeasedMembership {
  return new LeasedMembership({
    grant: () => grantLease(ctx.store, opts.leaseTtlSeconds ?? 10),
    register: async (lease, recovering) => {
      if (recovering) await view.resync()
      await register(lease)
    },
    onLost: (err) => {
      log(`lease lost (${errorMessage(err)}): not serving until the map is re-read and the write floor confirmed, re-registering meanwhile`)
      lapsed.lost()
    },
    onRecovered: () => {
      lapsed.recovered()
      log('re-registered; serving again')
    },
    onRetry: (err) => log(`re-registration failed: ${errorMessage(err)}`),
  })
}

/**
 * lapsedServing builds the router's {@link LapsedServing}: after a lapse it re-reads the map
 * and confirms, every tenth of the lease TTL (and at each map change), that the write floor
 * its newest registration was fenced on (`fence()`) still stands; each confirmation vouches
 * for one TTL from its send, so an etcd answering within 0.9 TTL keeps the router serving, as
 * it would keep a live lease.
 */
function lapsedServing(ctx: ServiceContext, opts: RouterServeOptions, log: (line: string) => void, view: ShardMapView, fence: () => readonly Compare[] | undefined): LapsedServing {
  const ttlMs = (opts.leaseTtlSeconds ?? 10) * 1000
  return new LapsedServing({
    reread: () => view.resync(),
    confirm: async () => {
      const f = fence()
      if (!f || fenceNamesAbsentFloor(f, ctx.keys.writeFloor)) return false
      const keys = [...new Set(f.map((c) => c.key))]
      const kvs = await Promise.all(keys.map((k) => ctx.store.get(k)))
      return fenceHolds(f, new Map(keys.map((k, i) => [k, kvs[i]])))
    },
    validMs: ttlMs,
    pauseMs: ttlMs / 10,
    now: () => performance.now(),
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms).unref()),
    onServing: () => log('serving again on the re-read shard map (write floor confirmed); re-registering under a new lease continues'),
    // One line per lapse is enough: the membership logs each failed re-registration.
    onFailure: (err, nth) => nth === 1 && log(`re-reading the shard map or confirming the write floor after the lapse failed: ${errorMessage(err)}`),
  })
}

/** routerHttp builds the client API over the coordinator, with the router's health and the auth directory's decisions. */
function routerHttp(id: string, opts: RouterServeOptions, parts: RouterParts, auth: AuthFollower, log: (line: string) => void, serving: () => boolean): RouterHttp {
  const {clockMonitor, view} = parts
  return createRouterHttp({
    kv: parts.coordinator,
    metrics: parts.metrics,
    latency: {
      record: (ms) => {
        parts.latency.record(ms)
        parts.recent.record(ms)
      },
    },
    tally: parts.tally,
    serving,
    health: () => {
      const c = clockMonitor.verdict()
      // `clock` lets peers measure their offset from this router (see ClockMonitor).
      return {router: id, serving: serving(), mapRevision: view.mapRevision().toString(), shards: view.table().size, clock: Date.now(), clockOk: c.ok, clockOffsetMs: c.offsetMs}
    },
    log,
    tls: opts.tls,
    authorize: (req, op) => (auth.required() ? authorize(auth.directory(), credentialsOf(req), op) : {allowed: true, user: ''}),
  })
}

/** REGISTER_FENCE_ATTEMPTS bounds the rounds of lowering the floor and registering fenced on it (each lost round means the floor or the cluster changed meanwhile). */
const REGISTER_FENCE_ATTEMPTS = 5

/** registerRouter publishes the router's registration under `lease`: its address, the epochs it follows and its client figures. */
async function registerRouter(ctx: ServiceContext, r: {id: string; address: string; w: number | undefined; parts: RouterParts; p99: () => number | null; onLost: (lease: LeaseHandle, err: Error) => void}, lease: Awaited<ReturnType<typeof grantLease>>, fence: readonly Compare[]): Promise<RouterRegistration> {
  const {view, clockMonitor, tally} = r.parts
  const reg = new RouterRegistration(ctx, {id: r.id, address: r.address, view: () => ({mapRevision: view.mapRevision(), epochs: view.table().epochs(), p99Ms: r.p99(), clockOffsetMs: clockMonitor.verdict().offsetMs, clockOk: clockMonitor.verdict().ok, clientRequests: tally.totals().requests, clientErrors: tally.totals().errors}), writeQuorum: r.w ?? null, onLost: r.onLost})
  await reg.register(lease, fence)
  return reg
}

/**
 * closeRouter releases what a drained router still holds: repairs and hints (pending ones are
 * dropped), then at once its registration and lease (both revoke the same lease) and its map
 * and auth watches (each waits for etcd a bounded time: REVOKE_WAIT_MS, WATCH_CANCEL_WAIT_MS,
 * so a frozen etcd delays the stop by about 3 s, not until gRPC drops the connection), then
 * the pools.
 */
async function closeRouter(parts: RouterParts, registration: RouterRegistration | undefined, membership: LeasedMembership, auth: AuthFollower): Promise<void> {
  await parts.repairs.close()
  await parts.hints.close()
  await Promise.all([registration?.deregister(), membership.stop(), parts.view.close(), auth.stop()])
  await parts.clients.close()
}

/**
 * listenOn binds `server` to host:port and returns the bound `host:port`. When it cannot,
 * it runs `onFail` (to release what was started) and throws BAD_INPUT naming `listen`.
 */
async function listenOn(server: Server, host: string, port: number, listen: string, onFail: () => void): Promise<string> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => {
      server.off('error', reject)
      resolve()
    })
  }).catch((err: NodeJS.ErrnoException) => {
    onFail()
    throw new UserError('BAD_INPUT', `cannot listen on ${listen}: ${err.code ?? err.message}`, 'pick a free port, or port 0 for any')
  })
  const bound = server.address() as AddressInfo
  return `${host.includes(':') ? `[${host}]` : host}:${bound.port}`
}

/** listenOf parses `--listen` (HOST:PORT), as a BAD_INPUT UserError when malformed. */
function listenOf(listen: string): {host: string; port: number} {
  try {
    return parseListen(listen)
  } catch (err) {
    throw new UserError('BAD_INPUT', `--listen: ${(err as Error).message}`, 'e.g. --listen 127.0.0.1:7000 (port 0 picks a free one)')
  }
}
