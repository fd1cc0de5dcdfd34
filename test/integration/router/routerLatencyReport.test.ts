import {setTimeout as sleepFor} from 'node:timers/promises'
import {afterAll, beforeAll, describe, expect, inject, it} from 'vitest'
import {worstRouterLatency} from '../../../src/executor/routerLatency.js'
import {type RouterLatency, RouterLatencySchema} from '../../../src/router/latencyPublisher.js'
import {DataPlane, kv, waitFor} from './dataPlane.js'
import {type RouterProcess} from './routerProcess.js'

/**
 * The short-window client p99 a real router publishes for `--throttle auto`
 * (`latency/routers/<id>`): it appears once clients are served, rests on no more requests
 * than were sent, never exceeds what the clients themselves measured, keeps coming while
 * requests do, stops when they stop, and vanishes with the router. The executor's reader
 * (worstRouterLatency) returns it while it is fresh.
 */

let dp: DataPlane
let router: RouterProcess

beforeAll(async () => {
  dp = new DataPlane(inject('etcdEndpoint'), 'latency')
  await dp.init(1, 2, 1)
  router = await dp.startRouter('rlat')
})

afterAll(async () => {
  await dp?.teardown()
})

async function report(): Promise<RouterLatency | undefined> {
  const kvp = await dp.ctx.store.get(dp.ctx.keys.routerLatency('rlat'))
  return kvp ? RouterLatencySchema.parse(JSON.parse(kvp.value)) : undefined
}

/** load sends `count` requests, `parallel` at a time, and returns the slowest latency the client saw (ms). */
async function load(count: number, parallel: number): Promise<number> {
  let slowest = 0
  for (let i = 0; i < count; i += parallel) {
    await Promise.all(
      Array.from({length: Math.min(parallel, count - i)}, async (_, j) => {
        const t0 = performance.now()
        const r = await kv(router.address, j % 2 ? 'GET' : 'PUT', `k${(i + j) % 50}`, 'v')
        slowest = Math.max(slowest, performance.now() - t0)
        expect([200, 204, 404]).toContain(r.status)
      }),
    )
  }
  return slowest
}

describe('router latency report', () => {
  it('publishes a fresh p99 of the requests it served, keeps it current while clients come, stops without them, and drops it with the router', {timeout: 120_000}, async () => {
    expect(await report()).toBeUndefined() // no request yet: nothing is published
    const slowest = await load(300, 10)
    const first = await waitFor(report, 'a latency report', 20_000)
    expect(first.samples).toBeGreaterThan(0)
    expect(first.samples).toBeLessThanOrEqual(300)
    expect(first.p99Ms).toBeLessThanOrEqual(slowest) // the router's latency is inside the client's
    expect(first.windowMs).toBeGreaterThanOrEqual(1000)
    expect(first.windowMs).toBeLessThanOrEqual(5000)
    // Beside it the steady window (what a baseline is set from): at least as long, over at least as many requests, never past 10 s.
    expect(first.steady?.windowMs).toBeGreaterThanOrEqual(first.windowMs)
    expect(first.steady?.windowMs).toBeLessThanOrEqual(10_000)
    expect(first.steady?.samples).toBeGreaterThanOrEqual(first.samples)
    expect(first.steady?.samples).toBeLessThanOrEqual(300)
    expect(first.steady?.p99Ms).toBeLessThanOrEqual(slowest)
    // (A report closed while the load still ran may rest on under 200 latencies: take any steady window here.)
    const read = await worstRouterLatency(dp.ctx, Date.now(), 60_000, 1)
    expect(read?.at).toBeGreaterThanOrEqual(first.at)
    expect(read?.steady).toBeDefined()

    // More requests: newer reports (a later `at`) follow.
    await load(100, 5)
    await waitFor(async () => ((await report())?.at ?? 0) > first.at || undefined, 'a newer report', 20_000)

    // No requests: once the slices have emptied, no new report is written (the key ages).
    const settled = await waitFor(
      async () => {
        const a = await report()
        await sleepFor(1500)
        const b = await report()
        return a && b && a.at === b.at ? b : undefined
      },
      'the reports to stop without requests',
      40_000,
    )
    expect(await worstRouterLatency(dp.ctx, settled.at + 5001, 5000)).toBeNull() // too old to act on

    router.signal('SIGTERM')
    await router.exited
    await waitFor(async () => ((await report()) === undefined ? true : undefined), 'the report to vanish with the router', 20_000)
  })
})
