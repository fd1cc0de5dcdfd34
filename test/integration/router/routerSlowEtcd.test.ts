import {afterAll, beforeAll, describe, expect, inject, it} from 'vitest'
import {startTcpProxy, type TcpProxy} from '../../support/tcpProxy.js'
import {DataPlane, kv, waitFor} from './dataPlane.js'
import {type RouterProcess} from './routerProcess.js'

/** TTL_S: the router's lease TTL; it counts on 0.9 of it after each keepalive answered. */
const TTL_S = 3

let dp: DataPlane
let proxy: TcpProxy
let router: RouterProcess

beforeAll(async () => {
  dp = new DataPlane(inject('etcdEndpoint'), 'slowetcd')
  await dp.init(1, 2, 1)
  proxy = await startTcpProxy(dp.endpoint)
  router = await dp.startRouter('rs', ['--lease-ttl', String(TTL_S)], proxy.endpoint)
})

afterAll(async () => {
  await proxy?.close()
  await dp?.teardown()
})

describe('router on a slow etcd', () => {
  it('Given a router whose lease lapsed when etcd answered late, When etcd answers within half the TTL (a live lease survives that, a new one cannot be proven in time), Then the router serves again on its re-read map, and re-registers once etcd is fast', {timeout: 120_000}, async () => {
    expect((await kv(router.address, 'PUT', 'a', '1')).status).toBe(204)
    // Answers later than 0.9 TTL: no keepalive answer arrives in time and the lease lapses.
    // (Not much later: every etcd call gets 5 s once its connection is up, src/etcd/connectFirst.ts.)
    proxy.lagReplies(TTL_S * 1000 * 1.15)
    await waitFor(async () => ((await kv(router.address, 'GET', 'a')).status === 503 ? true : undefined), 'the router to stop serving after its lease lapsed', 40_000)
    // Half the TTL: a live lease's keepalives are answered in time, but a new lease's first
    // keepalive answer comes two round trips after its grant was sent (>= TTL > 0.9 TTL), so
    // before the fix the router never got back into service while etcd was this slow.
    proxy.lagReplies(TTL_S * 1000 * 0.5)
    await waitFor(async () => ((await kv(router.address, 'GET', 'a')).status === 200 ? true : undefined), 'the router to serve again while etcd is slow', 45_000).catch((err) => {
      console.log(router.logs())
      throw err
    })
    const put = await kv(router.address, 'PUT', 'b', '2')
    expect(put.status).toBe(204)
    expect((await kv(router.address, 'GET', 'b')).body.toString()).toBe('2')
    expect(router.logs()).toMatch(/serving again on the re-read shard map/)
    // Fast again: the router registers under a new lease (the barrier counts it again).
    proxy.lagReplies(0)
    await waitFor(async () => ((await dp.ctx.store.get(dp.ctx.keys.router('rs'))) ? true : undefined), 'routers/rs to come back', 40_000)
    expect((await kv(router.address, 'GET', 'a')).body.toString()).toBe('1')
  })
})
