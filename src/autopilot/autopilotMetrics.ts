import {createServer, type Server} from 'node:http'
import {collectDefaultMetrics, Counter, Gauge, Histogram, Registry} from 'prom-client'
import {type ListenAddress} from '../model/units.js'
import {type DecisionKind} from './autopilotState.js'

/**
 * AutopilotMetrics is the autopilot's Prometheus registry (its own, not prom-client's
 * global): decisions by kind, whether this process leads, under-replicated shards and the
 * imbalance it last saw, and the time from the first sight of an under-replicated shard to
 * the first sight of none (time to heal).
 */
export class AutopilotMetrics {
  readonly registry = new Registry()
  readonly decisions: Counter<'kind'>
  readonly leader: Gauge
  readonly underReplicated: Gauge
  readonly imbalance: Gauge
  readonly timeToHeal: Histogram
  private underSince: number | null = null

  constructor(opts: {defaultMetrics?: boolean} = {}) {
    const registers = [this.registry]
    this.decisions = new Counter({name: 'shardctl_autopilot_decisions_total', help: 'Reconcile decisions by kind (idle, wait, resume, heal, rebalance).', labelNames: ['kind'], registers})
    this.leader = new Gauge({name: 'shardctl_autopilot_leader', help: '1 while this process is the acting autopilot, 0 on standby.', registers})
    this.underReplicated = new Gauge({name: 'shardctl_autopilot_under_replicated_shards', help: 'Shards with fewer voters on live nodes than the replication factor, at the last check.', registers})
    this.imbalance = new Gauge({name: 'shardctl_autopilot_imbalance_ratio', help: 'Largest node utilisation over the mean at the last check (1 = even).', registers})
    this.timeToHeal = new Histogram({name: 'shardctl_autopilot_time_to_heal_seconds', help: 'From the first check that saw an under-replicated shard to the first that saw none.', buckets: [10, 30, 60, 120, 300, 600, 1800, 3600, 7200], registers})
    if (opts.defaultMetrics !== false) collectDefaultMetrics({register: this.registry})
  }

  /** observe records one check: its decision kind, the under-replicated count and imbalance, at `now` (ms). */
  observe(kind: DecisionKind, underReplicated: number, imbalance: number | null, now: number): void {
    this.decisions.inc({kind})
    this.underReplicated.set(underReplicated)
    if (imbalance !== null) this.imbalance.set(imbalance)
    if (underReplicated > 0 && this.underSince === null) this.underSince = now
    if (underReplicated === 0 && this.underSince !== null) {
      this.timeToHeal.observe((now - this.underSince) / 1000)
      this.underSince = null
    }
  }
}

/**
 * serveMetrics serves `GET /metrics` of `metrics` on `listen` (anything else is 404) and
 * resolves with the server once listening (port 0 picks a free one). Rejects when it
 * cannot listen (address in use).
 */
export function serveMetrics(metrics: AutopilotMetrics, listen: ListenAddress): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.method !== 'GET' || req.url !== '/metrics') {
      res.writeHead(404, {'content-type': 'application/json'}).end(JSON.stringify({code: 'NOT_FOUND', message: 'only GET /metrics is served here'}))
      return
    }
    metrics.registry.metrics().then(
      (text) => res.writeHead(200, {'content-type': metrics.registry.contentType}).end(text),
      (err: unknown) => res.writeHead(500).end(String(err)),
    )
  })
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(listen.port, listen.host, () => resolve(server))
  })
}
