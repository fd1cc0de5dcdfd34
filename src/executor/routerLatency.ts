import {type ServiceContext} from '../cluster/serviceContext.js'
import {RouterLatencySchema} from '../router/latencyPublisher.js'
import {type LatencyReading} from './adaptiveThrottle.js'

/**
 * worstRouterLatency returns the latency report (`latency/routers/<id>`) with the highest
 * client p99 among the live routers' reports closed within `maxAgeMs` of `now` (ms since
 * the epoch); null when no router has a fresh report. Invalid entries are skipped.
 */
export async function worstRouterLatency(ctx: ServiceContext, now: number, maxAgeMs: number): Promise<LatencyReading | null> {
  const {items} = await ctx.store.list(ctx.keys.routerLatencyPrefix).catch(() => ({items: []}))
  let worst: LatencyReading | null = null
  for (const kv of items) {
    try {
      const r = RouterLatencySchema.safeParse(JSON.parse(kv.value))
      if (r.success && now - r.data.at <= maxAgeMs && (worst === null || r.data.p99Ms > worst.p99Ms)) worst = r.data
    } catch {
      // a malformed report says nothing about latency
    }
  }
  return worst
}
