import {type ServiceContext} from '../cluster/serviceContext.js'
import {type RouterLatency, RouterLatencySchema} from '../router/latencyPublisher.js'
import {type LatencyReading} from './adaptiveThrottle.js'
import {BASELINE_DEFAULTS} from './latencyBaseline.js'

/**
 * worstRouterLatency returns the latency report (`latency/routers/<id>`) with the highest
 * client p99 among the live routers' reports closed within `maxAgeMs` of `now` (ms since
 * the epoch); null when no router has a fresh report. Invalid entries are skipped.
 *
 * Its `steady` is the highest steady p99 among the fresh routers whose steady window rests
 * on `steadyMinSamples` latencies or more (a router with fewer has too few clients for a
 * p99: its slowest request is not a baseline, and it must not keep the busy routers' figure
 * from being used). It is absent when no router qualifies, or when any fresh router reports
 * no steady window at all: one built before it may be the one whose clients suffer, and a
 * baseline that leaves them out is set too low.
 */
export async function worstRouterLatency(ctx: ServiceContext, now: number, maxAgeMs: number, steadyMinSamples = BASELINE_DEFAULTS.steadyMinSamples): Promise<LatencyReading | null> {
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
  const {steady: _, ...reading} = worst
  if (fresh.some((r) => r.steady === undefined)) return reading
  const steadies = fresh.flatMap((r) => (r.steady && r.steady.samples >= steadyMinSamples ? [r.steady] : []))
  if (steadies.length === 0) return reading
  return {...reading, steady: steadies.reduce((a, b) => (b.p99Ms > a.p99Ms ? b : a))}
}
