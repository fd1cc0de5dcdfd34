import {z} from 'zod'
import {type ServiceContext} from '../cluster/serviceContext.js'
import {type LeaseHandle} from '../etcd/leaseHandle.js'
import {type LatencyReport} from './recentLatency.js'

/**
 * RouterLatencySchema: the leased `latency/routers/<id>` value, the router's client p99
 * over its newest latencies (see RecentLatency), rewritten every slice (a second) while the
 * router serves requests. A key apart from the registration: that one carries every shard's
 * epoch and is far too big to rewrite every second.
 *
 * - `p99Ms`, `samples`, `windowMs`: the report (`windowMs` is how far back it reaches from `at`);
 * - `at`: the router's clock (ms since the epoch) when the window closed. Readers derive the
 *   report's age from it, and a new `at` tells a new report from one already seen;
 * - `steady`: the p99 over the router's last 10 s (RecentLatency.steady), what `--throttle
 *   auto` sets its baseline from. Optional: a router built before it does not write it.
 */
const LatencyFigureSchema = z.object({
  p99Ms: z.number().nonnegative(),
  samples: z.number().int().positive(),
  windowMs: z.number().int().positive(),
})

export const RouterLatencySchema = LatencyFigureSchema.extend({
  at: z.number().int().nonnegative(),
  steady: LatencyFigureSchema.optional(),
})

/** RouterLatency is a validated router latency report. */
export type RouterLatency = z.infer<typeof RouterLatencySchema>

/**
 * LatencyPublisher writes a router's latency reports to `latency/routers/<id>` under the
 * router's lease (given with `attach`, again after each re-registration), so a dead router's
 * report vanishes with it. A put is skipped while the previous one is in flight, and a
 * window with no request is not written (the key then ages: readers drop old reports).
 * Errors are swallowed: the next report retries.
 */
export class LatencyPublisher {
  private lease?: LeaseHandle
  private writing = false

  constructor(
    private readonly ctx: ServiceContext,
    private readonly id: string,
  ) {}

  /** attach sets the lease reports are written under. */
  attach(lease: LeaseHandle): void {
    this.lease = lease
  }

  /** publish writes `report` and the `steady` one beside it, closed at `at` (ms since the epoch), unless `report` is null or a put is still in flight. */
  publish(report: LatencyReport | null, steady: LatencyReport | null, at: number): void {
    const lease = this.lease
    if (!report || !lease || lease.lost || this.writing) return
    const value: RouterLatency = {p99Ms: report.p99Ms, samples: report.samples, windowMs: report.windowMs, at, ...(steady ? {steady} : {})}
    this.writing = true
    void this.ctx.store
      .put(this.ctx.keys.routerLatency(this.id), JSON.stringify(value), lease.id)
      .catch(() => {})
      .finally(() => {
        this.writing = false
      })
  }

  /** stop publishes nothing more. */
  stop(): void {
    this.lease = undefined
  }
}
