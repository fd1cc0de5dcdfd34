import {hostname} from 'node:os'
import {type AddressInfo} from 'node:net'
import {getMeta} from '../cluster/clusterRepo.js'
import {LeasedMembership} from '../cluster/leasedMembership.js'
import {type ServiceContext} from '../cluster/serviceContext.js'
import {UserError, errorMessage} from '../errors/errors.js'
import {grantLease} from '../etcd/leaseHandle.js'
import {HybridClock} from '../model/hlc.js'
import {loadClusterToken} from '../node/clusterToken.js'
import {type NodeClient} from '../node/nodeClient.js'
import {NodeClients} from '../node/nodeClients.js'
import {ClockMonitor} from '../clock/clockMonitor.js'
import {DEFAULT_MAX_CLOCK_OFFSET_MS} from '../clock/clockOffsetTracker.js'
import {parseListen} from '../model/units.js'
import {ApplyBatcher} from './applyBatcher.js'
import {Coordinator} from './coordinator.js'
import {ClientTally} from './clientTally.js'
import {LatencyWindow} from './latencyWindow.js'
import {ReadRepairQueue} from './readRepairQueue.js'
import {createRouterHttp} from './routerHttp.js'
import {RouterMetrics} from './routerMetrics.js'
import {RouterRegistration} from './routerRegistration.js'
import {ShardMapView} from './shardMapView.js'
import {authorize} from '../security/accessControl.js'
import {AuthFollower} from '../security/authFollower.js'
import {requireTransportAllowed} from '../security/clusterSecurity.js'
import {credentialsOf} from '../security/requestCredentials.js'
import {type TlsMaterial} from '../transport/tlsMaterial.js'
import {setDefaultClientTls} from '../transport/clientTls.js'
import {reloadServerTls} from '../transport/dataPlaneServer.js'
import {TlsReloader} from '../transport/tlsReloader.js'

/** RouterServeOptions configure one router process. Durations are milliseconds. */
export interface RouterServeOptions {
  /** id names the router in etcd (`routers/<id>`) and is the HLC writer id of its writes. */
  id?: string
  /** listen is `host:port` (port 0 picks a free one; the running router reports the real address). */
  listen: string
  w?: number
  r?: number
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
 * and registered again — so an executor's barrier may ignore routers without a lease.
 *
 * Throws UserError: NOT_FOUND (no such cluster), BAD_INPUT (listen address), ALREADY_EXISTS
 * (router id in use), ETCD_UNREACHABLE; the listen error when the port is taken.
 */
export async function startRouter(ctx: ServiceContext, opts: RouterServeOptions): Promise<RunningRouter> {
  const id = opts.id ?? defaultRouterId()
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(id)) throw new UserError('BAD_INPUT', `router id "${id}" must be 1-64 letters, digits, "_", "." or "-"`)
  const {host, port} = listenOf(opts.listen)
  const log = opts.log ?? (() => {})
  await getMeta(ctx)
  await requireTransportAllowed(ctx, opts.tls, `router ${id}`)
  const token = await loadClusterToken(ctx)
  const auth = new AuthFollower(ctx, {log})
  await auth.start()

  const metrics = new RouterMetrics()
  const latency = new LatencyWindow()
  const tally = new ClientTally()
  const clients = new NodeClients({token, tls: opts.tls, timeoutMs: opts.nodeTimeoutMs ?? 2000, connections: opts.connections ?? 32, observe: (node, op, seconds, outcome) => metrics.upstream(node, op, seconds, outcome)})
  let serving = (): boolean => false
  let drainEnded = false
  let registration: RouterRegistration | undefined
  let lastP99: number | null = null

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
      registration?.update()
    },
    onInvalid: (key, message) => log(`ignoring invalid value at ${key}: ${message}`),
  })
  await view.start()

  const repairs = new ReadRepairQueue({
    capacity: opts.repairQueueCapacity ?? 1024,
    concurrency: opts.repairConcurrency ?? 4,
    apply: async (t) => {
      const address = view.address(t.node)
      if (!address) throw new Error(`node ${t.node} has no address`)
      await clients.client({id: t.node, address}).apply(t.shard, t.epoch, [t.record], 'repair')
    },
    onOutcome: (o) => metrics.repair(o),
  })

  // One ApplyBatcher per pool: concurrent writes to one shard on one node share a request.
  const batchers = new WeakMap<NodeClient, ApplyBatcher>()
  const coordinator = new Coordinator({
    map: view,
    node: (node) => {
      const address = view.address(node)
      if (!address) return undefined
      const client = clients.client({id: node, address})
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
    repair: (t) => repairs.enqueue(t),
    writeGate: clockMonitor.writeGate,
    options: {
      quorum: {w: opts.w, r: opts.r},
      nodeTimeoutMs: opts.nodeTimeoutMs ?? 2000,
      requestTimeoutMs: opts.requestTimeoutMs ?? 5000,
      staleRetries: opts.staleRetries ?? 3,
    },
    hooks: {staleEpochRetry: () => metrics.staleEpochRetry(), quorumFailure: (op) => metrics.quorumFailure(op), writeReissued: () => metrics.writeReissued()},
  })

  const http = createRouterHttp({
    kv: coordinator,
    metrics,
    latency,
    tally,
    serving: () => serving(),
    health: () => {
      const c = clockMonitor.verdict()
      // `clock` lets peers measure their offset from this router (see ClockMonitor).
      return {router: id, serving: serving(), mapRevision: view.mapRevision().toString(), shards: view.table().size, clock: Date.now(), clockOk: c.ok, clockOffsetMs: c.offsetMs}
    },
    log,
    tls: opts.tls,
    authorize: (req, op) => (auth.required() ? authorize(auth.directory(), credentialsOf(req), op) : {allowed: true, user: ''}),
  })
  await new Promise<void>((resolve, reject) => {
    http.server.once('error', reject)
    http.server.listen(port, host, () => {
      http.server.off('error', reject)
      resolve()
    })
  }).catch((err: NodeJS.ErrnoException) => {
    void view.close()
    void auth.stop()
    throw new UserError('BAD_INPUT', `cannot listen on ${opts.listen}: ${err.code ?? err.message}`, 'pick a free port, or port 0 for any')
  })
  const bound = http.server.address() as AddressInfo
  const address = `${host.includes(':') ? `[${host}]` : host}:${bound.port}`

  // Registration lives and dies with the lease: when it lapses the router stops serving
  // (503 NOT_SERVING) until it has re-read the map and registered under a new lease.
  const membership = new LeasedMembership({
    grant: () => grantLease(ctx.store, opts.leaseTtlSeconds ?? 10),
    register: async (lease, recovering) => {
      if (recovering) await view.resync()
      const reg = new RouterRegistration(ctx, {id, address, view: () => ({mapRevision: view.mapRevision(), epochs: view.table().epochs(), p99Ms: lastP99, clockOffsetMs: clockMonitor.verdict().offsetMs, clockOk: clockMonitor.verdict().ok, clientRequests: tally.totals().requests, clientErrors: tally.totals().errors}), writeQuorum: opts.w ?? null})
      await reg.register(lease)
      registration = reg
    },
    onLost: (err) => log(`lease lost (${errorMessage(err)}): not serving until the map is re-read and the router re-registered`),
    onRecovered: () => log('re-registered; serving again'),
    onRetry: (err) => log(`re-registration failed: ${errorMessage(err)}`),
  })
  serving = () => !drainEnded && membership.held()

  try {
    await membership.start()
  } catch (err) {
    await http.drain(0)
    await view.close()
    await auth.stop()
    await clients.close()
    throw err
  }

  clockMonitor.start()
  // Rotation: new client connections get the new certificate and CA bundle, and node pools are re-dialled with them.
  const tlsReloader = opts.tls
    ? new TlsReloader({
        initial: opts.tls,
        pollMs: opts.tlsPollMs,
        apply: (next) => {
          reloadServerTls(http.server, next)
          setDefaultClientTls(next)
          clients.renew(next)
        },
        report: (e) => log(e.kind === 'reloaded' ? `reloaded TLS files: serving ${e.summary.subject} issued by ${e.summary.issuer} (until ${e.summary.notAfter}, sha256 ${e.summary.fingerprint}), trusting ${e.summary.trustedCas} CA(s)` : e.message),
      })
    : undefined
  tlsReloader?.start()
  const heartbeat = setInterval(() => {
    lastP99 = latency.takeP99()
    registration?.update()
  }, opts.heartbeatMs ?? 5000)
  heartbeat.unref()

  return {
    id,
    address,
    cluster: ctx.cluster,
    async stop(drainTimeoutMs: number) {
      clearInterval(heartbeat)
      tlsReloader?.stop()
      await clockMonitor.stop()
      const atDeadline = http.inflight()
      const drained = await http.drain(drainTimeoutMs)
      drainEnded = true
      const left = drained ? 0 : Math.max(0, http.inflight() || atDeadline)
      await repairs.close()
      await registration?.deregister()
      await membership.stop()
      await view.close()
      await auth.stop()
      await clients.close()
      return {drained, inflightAtDeadline: left}
    },
  }
}

/** listenOf parses `--listen` (HOST:PORT), as a BAD_INPUT UserError when malformed. */
function listenOf(listen: string): {host: string; port: number} {
  try {
    return parseListen(listen)
  } catch (err) {
    throw new UserError('BAD_INPUT', `--listen: ${(err as Error).message}`, 'e.g. --listen 127.0.0.1:7000 (port 0 picks a free one)')
  }
}
