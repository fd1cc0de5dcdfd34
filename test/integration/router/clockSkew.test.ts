import {afterAll, beforeAll, describe, expect, inject, it} from 'vitest'
import {clusterStatus} from '../../../src/cluster/clusterStatus.js'
import {NodeStatsSummarySchema} from '../../../src/model/stats.js'
import {RouterRecordSchema} from '../../../src/router/routerRegistration.js'
import {skewedClock} from '../../support/faketime.js'
import {DataPlane, kv, waitFor} from './dataPlane.js'
import {type RouterProcess} from './routerProcess.js'

/**
 * Routers and nodes with skewed clocks (libfaketime), on real processes: the issue's
 * reproduction (PUT through a router 2 s ahead, then PUT through another 50 ms later: the
 * later one was lost) and the bound that stops a member whose clock is too far off.
 */
let dp: DataPlane
let normal: RouterProcess
let ahead: RouterProcess
let behind: RouterProcess

const health = async (address: string) => (await (await fetch(`http://${address}/healthz`, {signal: AbortSignal.timeout(5000)})).json()) as {clockOk?: boolean; clockOffsetMs?: number | null}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

beforeAll(async () => {
  dp = new DataPlane(inject('etcdEndpoint'), 'skew')
  await dp.init(3, 4, 3)
  normal = await dp.startRouter('r-normal')
  // Within the 500 ms bound: these must keep serving writes, and real-time order must hold.
  ahead = await dp.startRouter('r-ahead', [], undefined, skewedClock(400))
  behind = await dp.startRouter('r-behind', [], undefined, skewedClock(-400))
}, 120_000)

afterAll(async () => {
  await dp?.teardown()
})

describe('clock skew between routers within the bound', () => {
  it('the libfaketime skew is real: the skewed routers measure themselves about 400 ms off', async () => {
    const a = await waitFor(async () => ((await health(ahead.address)).clockOffsetMs ?? null) !== null ? health(ahead.address) : undefined, 'r-ahead measuring its offset')
    const b = await waitFor(async () => ((await health(behind.address)).clockOffsetMs ?? null) !== null ? health(behind.address) : undefined, 'r-behind measuring its offset')
    expect(a.clockOffsetMs).toBeGreaterThan(300)
    expect(b.clockOffsetMs).toBeLessThan(-300)
    expect([a.clockOk, b.clockOk]).toEqual([true, true])
  })

  it('a write acknowledged after another one wins, whichever router carried each (20 keys), and deletes stay deleted (10 keys)', async () => {
    const routers = [normal, ahead, behind]
    for (let i = 0; i < 20; i++) {
      const key = `order-${i}`
      const [first, second] = i % 2 === 0 ? [ahead, behind] : [ahead, normal]
      const early = await kv(first.address, 'PUT', key, 'early')
      expect(early.status).toBe(204)
      await sleep(50)
      const late = await kv(second.address, 'PUT', key, 'late')
      expect(late.status).toBe(204)
      expect(late.version! > early.version!).toBe(true)
      for (const r of routers) expect((await kv(r.address, 'GET', key)).body.toString()).toBe('late')
    }
    for (let i = 0; i < 10; i++) {
      const key = `gone-${i}`
      expect((await kv(ahead.address, 'PUT', key, 'v')).status).toBe(204)
      await sleep(50)
      expect((await kv(behind.address, 'DELETE', key)).status).toBe(204)
      for (const r of routers) expect((await kv(r.address, 'GET', key)).status).toBe(404)
    }
    // The later writes lost on the replicas at first and were re-issued (the fault landed; the fix acted).
    const metrics = await Promise.all([normal, behind].map(async (r) => (await fetch(`http://${r.address}/metrics`)).text()))
    const reissues = metrics.flatMap((t) => t.split('\n')).filter((l) => l.startsWith('shardctl_router_write_reissues_total')).reduce((a, l) => a + Number(l.split(' ').at(-1)), 0)
    expect(reissues).toBeGreaterThan(0)
  })
})

describe('clock skew beyond the bound', () => {
  it('a router 2 s ahead never gets a write acknowledged (nodes refuse its versions, then it refuses writes itself) and says so in /healthz and etcd', async () => {
    const far = await dp.startRouter('r-far', [], undefined, skewedClock(2000))
    const first = await kv(far.address, 'PUT', 'far-key', 'x')
    expect(first.status).toBe(503)
    const h = await waitFor(async () => ((await health(far.address)).clockOk === false ? health(far.address) : undefined), 'r-far to report its clock out of bounds')
    expect(h.clockOffsetMs).toBeGreaterThan(1500)
    const refused = await kv(far.address, 'PUT', 'far-key', 'x')
    expect(refused.status).toBe(503)
    expect(refused.json?.code).toBe('CLOCK_OFFSET')
    // Reads still work; nothing it tried to write is visible.
    expect((await kv(far.address, 'GET', 'far-key')).status).toBe(404)
    const rec = await waitFor(async () => {
      const got = await dp.ctx.store.get(dp.ctx.keys.router('r-far'))
      const parsed = got ? RouterRecordSchema.parse(JSON.parse(got.value)) : undefined
      return parsed?.clockOk === false ? parsed : undefined
    }, 'r-far registration to publish its offset')
    expect(rec.clockOffsetMs).toBeGreaterThan(1500)
    await far.kill()
  })

  it('a node 2 s behind stops taking writes while the cluster keeps serving them from the other two', async () => {
    await dp.nodes.n3!.kill()
    await dp.startNode('n3', skewedClock(-2000))
    const stats = await waitFor(async () => {
      const got = await dp.ctx.store.get(dp.ctx.keys.stats('n3'))
      const parsed = got ? NodeStatsSummarySchema.parse(JSON.parse(got.value)) : undefined
      return parsed?.clockOk === false ? parsed : undefined
    }, 'n3 to publish its clock out of bounds')
    expect(stats.clockOffsetMs).toBeLessThan(-1500)
    // `cluster status` shows each member's measured offset, flagging the one out of bounds.
    const status = await clusterStatus(dp.ctx)
    expect(status.nodes.find((n) => n.id === 'n3')?.clock).toMatchObject({ok: false})
    expect(status.nodes.find((n) => n.id === 'n1')?.clock).toMatchObject({ok: true})
    expect(status.routers.find((r) => r.id === 'r-ahead')?.clock?.offsetMs).toBeGreaterThan(200)
    for (let i = 0; i < 10; i++) {
      const w = await kv(normal.address, 'PUT', `while-n3-skewed-${i}`, 'v')
      expect(w.status).toBe(204)
    }
    expect(dp.nodes.n3!.logs()).toContain('clock out of bounds')
    await dp.nodes.n3!.kill()
    await dp.startNode('n3')
  })
})
