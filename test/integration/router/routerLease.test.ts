import {afterAll, beforeAll, describe, expect, inject, it} from 'vitest'
import {startTcpProxy, type TcpProxy} from '../../support/tcpProxy.js'
import {DataPlane, kv, waitFor} from './dataPlane.js'
import {type RouterProcess} from './routerProcess.js'

let dp: DataPlane
let proxy: TcpProxy
let router: RouterProcess

beforeAll(async () => {
  dp = new DataPlane(inject('etcdEndpoint'), 'lease')
  await dp.init(1, 2, 1)
  proxy = await startTcpProxy(dp.endpoint)
  router = await dp.startRouter('rl', ['--lease-ttl', '2'], proxy.endpoint)
})

afterAll(async () => {
  await proxy?.close()
  await dp?.teardown()
})

describe('router lease', () => {
  it('a router cut off from etcd past its lease stops serving, then re-reads the map and re-registers', {timeout: 90_000}, async () => {
    expect((await kv(router.address, 'PUT', 'a', '1')).status).toBe(204)
    proxy.block()
    try {
      // The lease lapses (etcd deletes routers/rl), the router notices and refuses clients.
      await waitFor(async () => ((await dp.ctx.store.get(dp.ctx.keys.router('rl'))) === undefined ? true : undefined), 'routers/rl to expire', 30_000)
      const refused = await waitFor(async () => {
        const r = await kv(router.address, 'PUT', 'b', '2')
        return r.status === 503 ? r : undefined
      }, 'the router to stop serving', 30_000)
      expect(refused.json).toMatchObject({code: 'NOT_SERVING'})
      expect((await fetch(`http://${router.address}/healthz`)).status).toBe(503)
    } finally {
      proxy.unblock()
    }
    await waitFor(async () => ((await dp.ctx.store.get(dp.ctx.keys.router('rl'))) ? true : undefined), 'routers/rl to come back', 40_000)
    await waitFor(async () => ((await kv(router.address, 'PUT', 'b', '2')).status === 204 ? true : undefined), 'the router to serve again', 20_000)
    expect((await kv(router.address, 'GET', 'a')).body.toString()).toBe('1')
    expect(router.logs()).toMatch(/lease lost/)
    expect(router.logs()).toMatch(/re-registered; serving again/)
  })
})
