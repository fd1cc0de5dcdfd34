import {setTimeout as sleepFor} from 'node:timers/promises'
import {afterAll, beforeAll, describe, expect, inject, it} from 'vitest'
import {startTcpProxy, type TcpProxy} from '../../support/tcpProxy.js'
import {DataPlane, kv, waitFor} from './dataPlane.js'
import {type RouterProcess} from './routerProcess.js'

/** TTL_S: the router's lease TTL (it counts its lease lost 0.9 TTL after the last keepalive answered). */
const TTL_S = 4
/** TIMEOUT_MS: the router's etcd call deadline (SHARDCTL_ETCD_TIMEOUT_MS). */
const TIMEOUT_MS = 2000
/** LAG_MS: every etcd answer comes this late, 0.7 of the deadline: a call is answered in time, a new connection plus a call is not. */
const LAG_MS = 1400

let dp: DataPlane
let proxy: TcpProxy
let router: RouterProcess

beforeAll(async () => {
  dp = new DataPlane(inject('etcdEndpoint'), 'etcdlink')
  await dp.init(1, 2, 1)
  proxy = await startTcpProxy(dp.endpoint)
  router = await dp.startRouter('rl', ['--lease-ttl', String(TTL_S)], proxy.endpoint, {SHARDCTL_ETCD_TIMEOUT_MS: String(TIMEOUT_MS)})
}, 90_000)

afterAll(async () => {
  await proxy?.close()
  await dp?.teardown()
})

describe('router whose etcd link is slower than half the call deadline', () => {
  it('Given a router whose etcd answers in 0.7 of its call deadline, When its connections to etcd are cut long enough for its lease to lapse, Then it reconnects, serves again and re-registers (each new connection costs a lagged handshake before the call: before the fix every first call on a new channel missed its deadline and closed the channel again)', {timeout: 150_000}, async () => {
    expect((await kv(router.address, 'PUT', 'a', '1')).status).toBe(204)
    await waitFor(async () => ((await dp.ctx.store.get(dp.ctx.keys.router('rl'))) ? true : undefined), 'routers/rl to be registered', 30_000)
    proxy.lagReplies(LAG_MS)
    // Calls still succeed on the open connection while etcd is this slow.
    await sleepFor(3000)
    expect((await kv(router.address, 'PUT', 'b', '2')).status).toBe(204)
    // Cut every connection and refuse new ones past 0.9 TTL: the lease is lost, and every
    // channel (unary calls, watch, keepalive) must be made again through the slow link.
    proxy.block()
    await waitFor(async () => ((await kv(router.address, 'GET', 'a')).status === 503 ? true : undefined), 'the router to stop serving after its lease lapsed', 30_000)
    proxy.unblock()
    await waitFor(async () => ((await kv(router.address, 'PUT', 'c', '3')).status === 204 ? true : undefined), 'the router to serve again over the slow link', 60_000).catch((err) => {
      console.log(router.logs())
      throw err
    })
    await waitFor(async () => ((await dp.ctx.store.get(dp.ctx.keys.router('rl'))) ? true : undefined), 'routers/rl to come back under a new lease', 30_000)
    expect((await kv(router.address, 'GET', 'a')).body.toString()).toBe('1')
    expect((await kv(router.address, 'GET', 'c')).body.toString()).toBe('3')
  })
})
