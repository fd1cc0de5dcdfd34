import {collectDefaultMetrics, Counter, Gauge, Histogram, Registry} from 'prom-client'
import {type HintEvent} from './hintQueue.js'
import {type RepairOutcome} from './readRepairQueue.js'

/** RouteLabel names a client API route for metrics (bounded cardinality: never the key). */
export type RouteLabel = 'kv' | 'healthz' | 'metrics' | 'unknown'

/**
 * RouterMetrics is the router's Prometheus registry (its own, not prom-client's global):
 * request counts and latency by route/method/status, quorum failures, stale-epoch retries,
 * read repairs by outcome, hinted handoff (hints by event, hints pending), failed replica
 * applies by reason, in-flight requests and the applied map revision.
 */
export class RouterMetrics {
  readonly registry = new Registry()
  private readonly requests: Counter<'route' | 'method' | 'status'>
  private readonly latency: Histogram<'route' | 'method' | 'status'>
  private readonly quorumFailures: Counter<'op'>
  private readonly staleRetries: Counter
  private readonly refusalRetries: Counter<'op'>
  private readonly reissues: Counter
  private readonly repairs: Counter<'outcome'>
  private readonly hints: Counter<'event'>
  /** hintsPending is the hint queue's size (pending and in flight); set by the router. */
  readonly hintsPending: Gauge
  private readonly applyFailures: Counter<'reason' | 'during_move'>
  readonly inflight: Gauge
  /** children caches the labelled series per (route, method, status): prom-client hashes a label object on every call otherwise (hot path). */
  private readonly children = new Map<string, {count: Counter.Internal; latency: Histogram.Internal<'route' | 'method' | 'status'>}>()
  readonly mapRevision: Gauge
  private readonly upstreamLatency: Histogram<'node' | 'op'>
  private readonly upstreamErrors: Counter<'node' | 'op' | 'code'>

  constructor(opts: {defaultMetrics?: boolean} = {}) {
    const registers = [this.registry]
    this.requests = new Counter({name: 'shardctl_router_requests_total', help: 'Client requests by route, method and HTTP status.', labelNames: ['route', 'method', 'status'], registers})
    this.latency = new Histogram({
      name: 'shardctl_router_request_duration_seconds',
      help: 'Client request latency by route, method and HTTP status.',
      labelNames: ['route', 'method', 'status'],
      buckets: [0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    })
    this.quorumFailures = new Counter({name: 'shardctl_router_quorum_failures_total', help: 'Reads and writes that did not reach their quorum.', labelNames: ['op'], registers})
    this.staleRetries = new Counter({name: 'shardctl_router_stale_epoch_retries_total', help: 'Map refreshes and retries after a node refused a stale epoch.', registers})
    this.refusalRetries = new Counter({name: 'shardctl_router_refusal_retries_total', help: 'Reads and writes retried after a short pause because replicas answered NOT_SERVING (re-registering, or no epoch confirmed with etcd).', labelNames: ['op'], registers})
    this.reissues = new Counter({name: 'shardctl_router_write_reissues_total', help: 'Writes re-issued above a newer version a replica kept (a write is never acknowledged having lost).', registers})
    this.repairs = new Counter({name: 'shardctl_router_read_repairs_total', help: 'Read repairs by outcome (applied, failed, dropped when the queue was full).', labelNames: ['outcome'], registers})
    this.hints = new Counter({name: 'shardctl_router_hints_total', help: 'Hinted handoff: records a replica missed, by event (queued, delivered, dropped when the queue was full, expired undelivered, obsolete when the node no longer holds the shard, rejected).', labelNames: ['event'], registers})
    this.hintsPending = new Gauge({name: 'shardctl_router_hints_pending', help: 'Hints waiting for or in delivery.', registers})
    this.applyFailures = new Counter({
      name: 'shardctl_router_replica_apply_failures_total',
      help: 'Replica applies of client writes that failed, by reason (TIMEOUT, or the node error code) and whether a move of the shard was in flight.',
      labelNames: ['reason', 'during_move'],
      registers,
    })
    this.inflight = new Gauge({name: 'shardctl_router_inflight_requests', help: 'Client requests being served.', registers})
    this.mapRevision = new Gauge({name: 'shardctl_router_map_revision', help: 'etcd revision up to which the shard map is applied.', registers})
    this.upstreamLatency = new Histogram({
      name: 'shardctl_router_upstream_request_duration_seconds',
      help: 'Latency of requests to each storage node (upstream), by node and operation, errors included.',
      labelNames: ['node', 'op'],
      buckets: [0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    })
    this.upstreamErrors = new Counter({name: 'shardctl_router_upstream_errors_total', help: 'Failed requests to each storage node, by node, operation and error code.', labelNames: ['node', 'op', 'code'], registers})
    // Standard names (process_cpu_seconds_total, nodejs_heap_size_used_bytes…), no prefix: stock Node.js dashboards work as they are.
    if (opts.defaultMetrics !== false) collectDefaultMetrics({register: this.registry})
  }

  /** request records one finished client request. */
  request(route: RouteLabel, method: string, status: number, seconds: number): void {
    const id = `${route} ${method} ${status}`
    let child = this.children.get(id)
    if (!child) {
      // Bounded: route and status are from small sets; methods are whatever clients send, so cap the cache.
      const labels = {route, method: method.length <= 16 ? method : 'OTHER', status: String(status)}
      child = {count: this.requests.labels(labels), latency: this.latency.labels(labels)}
      if (this.children.size < 256) this.children.set(id, child)
    }
    child.count.inc()
    child.latency.observe(seconds)
  }

  /** quorumFailure counts a read or write that missed its quorum. */
  quorumFailure(op: 'read' | 'write'): void {
    this.quorumFailures.inc({op})
  }

  /** staleEpochRetry counts one refresh-and-retry after a fencing refusal. */
  staleEpochRetry(): void {
    this.staleRetries.inc()
  }

  /** refusalRetry counts one pause-and-retry of a read or write round that replicas refused NOT_SERVING. */
  refusalRetry(op: 'read' | 'write'): void {
    this.refusalRetries.inc({op})
  }

  /** writeReissued counts one write re-issued above a newer version a replica reported. */
  writeReissued(): void {
    this.reissues.inc()
  }

  /** repair counts one read repair outcome. */
  repair(outcome: RepairOutcome): void {
    this.repairs.inc({outcome})
  }

  /** hint counts `count` records reaching hinted-handoff event `event`. */
  hint(event: HintEvent, count: number): void {
    this.hints.inc({event}, count)
  }

  /** replicaApplyFailed counts one failed replica apply of a client write (reason: TIMEOUT or an error code: bounded). */
  replicaApplyFailed(reason: string, duringMove: boolean): void {
    this.applyFailures.inc({reason, during_move: duringMove ? 'true' : 'false'})
  }

  /** upstream records one finished request to a storage node (labels are node ids and operation names: bounded). */
  upstream(node: string, op: string, seconds: number, outcome: string): void {
    this.upstreamLatency.observe({node, op}, seconds)
    if (outcome !== 'ok') this.upstreamErrors.inc({node, op, code: outcome})
  }

  /** render returns the exposition text and its content type. */
  async render(): Promise<{body: string; contentType: string}> {
    return {body: await this.registry.metrics(), contentType: this.registry.contentType}
  }
}
