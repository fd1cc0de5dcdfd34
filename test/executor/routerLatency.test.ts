import {describe, expect, it} from 'vitest'
import {makeServiceContext} from '../../src/cluster/serviceContext.js'
import {worstRouterLatency} from '../../src/executor/routerLatency.js'
import {type RouterLatency} from '../../src/router/latencyPublisher.js'
import {MemoryStore} from '../../src/store/memoryStore.js'

const NOW = 1_000_000

async function withReports(reports: Record<string, RouterLatency | string>): Promise<ReturnType<typeof makeServiceContext>> {
  const store = new MemoryStore()
  const ctx = makeServiceContext(store, {cluster: 'lat'})
  for (const [id, r] of Object.entries(reports)) await store.put(ctx.keys.routerLatency(id), typeof r === 'string' ? r : JSON.stringify(r))
  return ctx
}

const steady = (p99Ms: number) => ({p99Ms, samples: 3000, windowMs: 10_000})

describe('worstRouterLatency', () => {
  it("returns the fresh report with the highest p99, with the highest steady p99 of all fresh routers beside it", async () => {
    const ctx = await withReports({
      r1: {p99Ms: 30, samples: 300, windowMs: 1000, at: NOW - 500, steady: steady(9)},
      r2: {p99Ms: 12, samples: 300, windowMs: 1000, at: NOW - 200, steady: steady(14)}, // calmer now, worse over 10 s
      r3: {p99Ms: 99, samples: 300, windowMs: 1000, at: NOW - 60_000, steady: steady(50)}, // too old: left out
      bad: '{"p99Ms": "fast"}',
    })
    expect(await worstRouterLatency(ctx, NOW, 5000)).toEqual({p99Ms: 30, samples: 300, windowMs: 1000, at: NOW - 500, steady: steady(14)})
  })

  it('leaves the steady window out unless every fresh router reports one (an older router may be the one whose clients suffer)', async () => {
    const ctx = await withReports({
      r1: {p99Ms: 30, samples: 300, windowMs: 1000, at: NOW - 500, steady: steady(9)},
      old: {p99Ms: 20, samples: 300, windowMs: 1000, at: NOW - 500},
    })
    expect(await worstRouterLatency(ctx, NOW, 5000)).toEqual({p99Ms: 30, samples: 300, windowMs: 1000, at: NOW - 500})
    expect(await worstRouterLatency(await withReports({}), NOW, 5000)).toBeNull()
  })

  it("leaves a quiet router's steady window out (too few latencies for a p99) instead of letting it block the busy routers' figure", async () => {
    const ctx = await withReports({
      busy: {p99Ms: 12, samples: 300, windowMs: 1000, at: NOW - 500, steady: {p99Ms: 10, samples: 5000, windowMs: 10_000}},
      quiet: {p99Ms: 40, samples: 15, windowMs: 5000, at: NOW - 500, steady: {p99Ms: 30, samples: 150, windowMs: 10_000}},
    })
    expect(await worstRouterLatency(ctx, NOW, 5000)).toEqual({p99Ms: 40, samples: 15, windowMs: 5000, at: NOW - 500, steady: {p99Ms: 10, samples: 5000, windowMs: 10_000}})
    const allQuiet = await withReports({quiet: {p99Ms: 40, samples: 15, windowMs: 5000, at: NOW - 500, steady: {p99Ms: 30, samples: 150, windowMs: 10_000}}})
    expect(await worstRouterLatency(allQuiet, NOW, 5000)).toEqual({p99Ms: 40, samples: 15, windowMs: 5000, at: NOW - 500})
  })
})
