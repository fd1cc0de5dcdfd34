import {type IncomingMessage, type Server, type ServerResponse} from 'node:http'
import {boundedWait} from '../clock/boundedWait.js'
import {type ErrorCode} from '../errors/codes.js'
import {UserError} from '../errors/errors.js'
import {HTTP_STATUS} from '../errors/httpStatus.js'
import {MAX_VALUE_BYTES, REMOVED_VALUE_HEADER, VERSION_HEADER} from '../node/protocol.js'
import {type ReadResult, type WriteResult} from './coordinator.js'
import {decodeKeyPath} from './keyPath.js'
import {type ClientTally} from './clientTally.js'
import {QuorumError, type ReplicaFailure} from './quorumError.js'
import {type RouteLabel, type RouterMetrics} from './routerMetrics.js'
import {type Decision, type Operation} from '../security/accessControl.js'
import {createDataPlaneServer} from '../transport/dataPlaneServer.js'
import {readRequestBody, settleUnreadBody} from '../transport/requestBody.js'
import {type TlsMaterial} from '../transport/tlsMaterial.js'
import {refuseUnparsedRequest, type UnparsedSocket} from '../transport/unparsedRequest.js'

/** KvBackend is what the HTTP layer needs from the coordinator. */
export interface KvBackend {
  read(key: Buffer): Promise<ReadResult>
  write(key: Buffer, value: Buffer | null): Promise<WriteResult>
}

/** RouterHttpOptions wire the client API to the coordinator, metrics and health. */
export interface RouterHttpOptions {
  kv: KvBackend
  metrics: RouterMetrics
  /** latency receives every answered client request's latency (ms). */
  latency?: {record(ms: number): void}
  /** tally counts answered client key-value requests and their 5xx failures (published in the router's registration). */
  tally?: ClientTally
  /** serving is false while the map is not loaded, the lease lapsed, or the router drains: /kv answers 503 NOT_SERVING. */
  serving: () => boolean
  health: () => Record<string, unknown>
  maxValueBytes?: number
  /** log receives one line per unexpected failure (never a key, value or token). */
  log?: (line: string) => void
  /** tls: serve HTTPS only; client certificates of the CA are asked for (they identify users) but not required. */
  tls?: TlsMaterial
  /**
   * authorize decides /kv and /metrics requests (undefined: everyone may). /healthz stays
   * open: load balancers and the members' clock probes read it, and it holds no data.
   */
  authorize?: (req: IncomingMessage, op: Operation) => Decision
}

/** RouterHttp is the router's HTTP server with drain support. */
export interface RouterHttp {
  server: Server
  /** inflight is the number of client requests being served. */
  inflight(): number
  /** drain stops accepting connections, answers requests on open connections with `connection: close`, and resolves when none are in flight or at `deadlineMs` (then closes every connection). Returns whether it drained cleanly. */
  drain(deadlineMs: number): Promise<boolean>
}

/** ErrorBody is every router error response. QUORUM_FAILED adds the shard and the failed replicas. */
export interface RouterErrorBody {
  code: ErrorCode
  message: string
  shard?: number
  epoch?: number
  failed?: ReplicaFailure[]
}

/** RouterRoute is one route of the client API and the access it takes (`open`: none). */
export interface RouterRoute {
  route: Exclude<RouteLabel, 'unknown'>
  method: 'GET' | 'PUT' | 'DELETE'
  access: 'read' | 'write' | 'metrics' | 'open'
  /** path is an example path of the route (tests dial every route with it). */
  path: string
}

/**
 * ROUTER_ROUTES is the router's whole client API: the HTTP handler serves only these
 * (anything else is 404), and each non-open route passes `authorize` before anything is
 * read or written. `GET /healthz` is the one open route: load balancers and the members'
 * clock probes read it, and it carries no keys or values (docs/security.md).
 */
export const ROUTER_ROUTES: readonly RouterRoute[] = [
  {route: 'kv', method: 'GET', access: 'read', path: '/kv/app/route-check'},
  {route: 'kv', method: 'PUT', access: 'write', path: '/kv/app/route-check'},
  {route: 'kv', method: 'DELETE', access: 'write', path: '/kv/app/route-check'},
  {route: 'metrics', method: 'GET', access: 'metrics', path: '/metrics'},
  {route: 'healthz', method: 'GET', access: 'open', path: '/healthz'},
]

class HttpRefusal extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message)
  }
}

/**
 * createRouterHttp builds the client API server (HTTP/1.1, keep-alive):
 *
 * | route | answer |
 * | --- | --- |
 * | `GET /kv/{key}` | 200 value bytes, or 404 (absent or deleted); `x-shardctl-version` = the record's HLC |
 * | `PUT /kv/{key}` | body = value (≤ 1 MiB, binary) → 204, `x-shardctl-version` = the new version |
 * | `DELETE /kv/{key}` | → 204, a tombstone at a new version; `x-shardctl-removed-value` = `true` / `false` (whether a value was there), missing when unknown |
 * | `GET /healthz` | 200 when serving, else 503; JSON status |
 * | `GET /metrics` | Prometheus exposition |
 *
 * With `authorize` set, /kv and /metrics answer 401 UNAUTHORIZED (with `www-authenticate`)
 * without valid credentials and 403 FORBIDDEN outside the user's roles, before anything
 * is read or written.
 *
 * Errors are JSON {@link RouterErrorBody} with the status from HTTP_STATUS: unknown route
 * 404, oversize value or key 413, quorum not reached 503 naming the shard and the failed
 * replicas, not serving 503. Never a stack trace; every request is bounded by the server's
 * timeouts and the coordinator's deadline.
 */
export function createRouterHttp(opts: RouterHttpOptions): RouterHttp {
  const maxValue = opts.maxValueBytes ?? MAX_VALUE_BYTES
  let inflight = 0
  let draining = false
  let idleWaiter: (() => void) | undefined

  const serverOptions = {tls: opts.tls, clientCertificates: 'request', keepAliveTimeout: 30_000, headersTimeout: 10_000, requestTimeout: 30_000, onRefused: (reason: string, remote: string) => opts.log?.(`refused a connection from ${remote}: ${reason}`)} as const
  const server = createDataPlaneServer(serverOptions, (req, res) => {
    const started = performance.now()
    inflight++
    opts.metrics.inflight.inc()
    if (draining) res.setHeader('connection', 'close')
    let route: RouteLabel = 'unknown'
    res.on('close', () => {
      inflight--
      opts.metrics.inflight.dec()
      const ms = performance.now() - started
      opts.metrics.request(route, req.method ?? 'GET', res.statusCode, ms / 1000)
      if (route === 'kv') {
        opts.latency?.record(ms)
        opts.tally?.record(res.statusCode)
      }
      if (inflight === 0) idleWaiter?.()
    })
    route = routeOf(req)
    handleRequest({opts, maxValue, draining: () => draining}, req, res, route).catch(async (err: unknown) => {
      // A refusal decided before the body was read (route, key, credentials, not serving) waits for a bounded rest of it when the connection closes after the answer.
      await settleUnreadBody(req, res)
      sendError(res, err, opts.log)
    })
  })
  server.on('clientError', (_err, socket) => refuseUnparsedRequest(socket as UnparsedSocket, 'HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n'))

  return {
    server,
    inflight: () => inflight,
    async drain(deadlineMs: number): Promise<boolean> {
      draining = true
      const closed = new Promise<void>((resolve) => server.close(() => resolve()))
      server.closeIdleConnections()
      const idle = inflight === 0 ? Promise.resolve() : new Promise<void>((resolve) => (idleWaiter = resolve))
      // boundedWait: a --drain-timeout past a Node timer's longest delay (24.8 days) is waited, not cut after 1 ms.
      const clean = (await boundedWait(idle, deadlineMs)).done
      server.closeAllConnections()
      await Promise.race([closed, new Promise((r) => setTimeout(r, 1000).unref())])
      return clean
    },
  }
}

/** RequestScope is what one request's handling reads from its server. */
interface RequestScope {
  opts: RouterHttpOptions
  maxValue: number
  draining: () => boolean
}

/** handleRequest serves one request of a route ROUTER_ROUTES lists, after its access check. */
async function handleRequest(scope: RequestScope, req: IncomingMessage, res: ServerResponse, route: RouteLabel): Promise<void> {
  const {opts} = scope
  const method = req.method ?? 'GET'
  const path = pathOf(req)
  // Only what ROUTER_ROUTES lists is served: a route cannot skip its access check by being added elsewhere.
  const entry = ROUTER_ROUTES.find((r) => r.route === route && r.method === method)
  if (!entry) {
    throw new HttpRefusal('NOT_FOUND', `no route ${method} ${path.length > 64 ? `${path.slice(0, 64)}…` : path}`)
  }
  if (entry.access === 'open') {
    sendJson(res, opts.serving() && !scope.draining() ? 200 : 503, opts.health())
    return
  }
  if (entry.access === 'metrics') {
    refuseUnlessAllowed(opts, req, res, {kind: 'metrics'})
    const {body, contentType} = await opts.metrics.render()
    res.writeHead(200, {'content-type': contentType, 'content-length': Buffer.byteLength(body)})
    res.end(body)
    return
  }
  const decoded = decodeKeyPath(path.slice(4))
  if (!decoded.ok) {
    throw new HttpRefusal(decoded.code, decoded.message)
  }
  if (!opts.serving()) {
    throw new HttpRefusal('NOT_SERVING', 'the router is not serving (starting, re-reading the shard map, or shutting down)')
  }
  refuseUnlessAllowed(opts, req, res, {kind: entry.access === 'read' ? 'read' : 'write', key: decoded.key})
  await serveKv(scope, req, res, method, decoded.key)
}

/** serveKv reads (GET) or writes (PUT, DELETE as a tombstone) one key through the coordinator. */
async function serveKv(scope: RequestScope, req: IncomingMessage, res: ServerResponse, method: string, key: Buffer): Promise<void> {
  if (method === 'GET') {
    req.resume()
    const r = await scope.opts.kv.read(key)
    if (r.record) res.setHeader(VERSION_HEADER, r.record.version)
    if (!r.record || r.record.value === null) {
      sendJson(res, 404, {code: 'NOT_FOUND', message: r.record ? 'key deleted' : 'key not found'} satisfies RouterErrorBody)
      return
    }
    res.writeHead(200, {'content-type': 'application/octet-stream', 'content-length': r.record.value.length})
    res.end(r.record.value)
    return
  }
  let value: Buffer | null = null
  if (method === 'PUT') value = await readRequestBody(req, res, scope.maxValue, 'value')
  else req.resume()
  const w = await scope.opts.kv.write(key, value)
  if (w.removedValue !== undefined) res.setHeader(REMOVED_VALUE_HEADER, String(w.removedValue))
  res.writeHead(204, {[VERSION_HEADER]: w.version})
  res.end()
}

// refuseUnlessAllowed throws the refusal of a request its credentials do not allow, its body
// unread (the error handler settles it: settleUnreadBody).
function refuseUnlessAllowed(opts: RouterHttpOptions, req: IncomingMessage, res: ServerResponse, op: Operation): void {
  const d = opts.authorize?.(req, op)
  if (!d || d.allowed) return
  if (d.code === 'UNAUTHORIZED') res.setHeader('www-authenticate', 'Bearer realm="shardctl"')
  throw new HttpRefusal(d.code, d.message)
}

function pathOf(req: IncomingMessage): string {
  const url = req.url ?? '/'
  const q = url.indexOf('?')
  return q < 0 ? url : url.slice(0, q)
}

function routeOf(req: IncomingMessage): RouteLabel {
  const path = pathOf(req)
  if (path.startsWith('/kv/')) return 'kv'
  if (path === '/healthz') return 'healthz'
  if (path === '/metrics') return 'metrics'
  return 'unknown'
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body)
  res.writeHead(status, {'content-type': 'application/json', 'content-length': Buffer.byteLength(text)})
  res.end(text)
}

function sendError(res: ServerResponse, err: unknown, log?: (line: string) => void): void {
  let body: RouterErrorBody
  if (err instanceof QuorumError) body = {code: err.code, message: err.message, shard: err.shard, epoch: err.epoch, failed: err.failed}
  else if (err instanceof HttpRefusal || err instanceof UserError) body = {code: err.code, message: err.message}
  else {
    log?.(`unexpected failure: ${err instanceof Error ? err.message : String(err)}`)
    body = {code: 'INTERNAL', message: 'internal error'}
  }
  if (res.headersSent) {
    res.destroy()
    return
  }
  sendJson(res, HTTP_STATUS[body.code], body)
}
