import {type ServiceContext} from '../cluster/serviceContext.js'
import {type RouterLatency, RouterLatencySchema} from '../router/latencyPublisher.js'
import {type LatencyReading} from './adaptiveThrottle.js'

/**
 * worstRouterLatency returns the latency report (`latency/routers/<id>`) with the highest
 * client p99 among the live routers' reports closed within `maxAgeMs` of `now` (ms since
 * the epoch); null when no router has a fresh report. Invalid entries are skipped. Its
 * `steady` is the highest steady p99 of those reports, and absent unless every one of them
 * has one: a router that does not report it (an older build) may be the one whose clients
 * suffer, and a baseline that leaves them out is set too low.
 */
export async function worstRouterLatency(ctx: ServiceContext, now: number, maxAgeMs: number): Promise<LatencyReading | null> {
  const {items} = await ctx.store.list(ctx.keys.routerLatencyPrefix).catch(() => ({items: []}))
  const fresh: RouterLatency[] = []
  for (const kv of items) {
    try {
      const r = RouterLatencySchema.safeParse(JSON.parse(kv.value))
      if (r.success && now - r.data.at <= maxAgeMs) fresh.push(r.data)
    } catch {
      // a malformed report says nothing about latency
    }
  }
  if (fresh.length === 0) return null
  const worst = fresh.reduce((a, b) => (b.p99Ms > a.p99Ms ? b : a))
  const steadies = fresh.flatMap((r) => (r.steady ? [r.steady] : []))
  const {steady: _, ...reading} = worst
  if (steadies.length < fresh.length) return reading
  return {...reading, steady: steadies.reduce((a, b) => (b.p99Ms > a.p99Ms ? b : a))}
}
