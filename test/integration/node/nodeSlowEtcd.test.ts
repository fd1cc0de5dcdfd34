import {afterAll, beforeAll, describe, expect, inject, it} from 'vitest'
import {dataPlaneFetch} from '../../support/dataPlaneFetch.js'
import {startTcpProxy, type TcpProxy} from '../../support/tcpProxy.js'
import {DataPlane, kv, waitFor} from '../router/dataPlane.js'
import {type RouterProcess} from '../router/routerProcess.js'

/** TTL_MS: the node's lease TTL (startNodeProcess's default --lease-ttl 3s); it counts on 0.9 of it after each keepalive answered. */
const TTL_MS = 3000

let dp: DataPlane
let proxy: TcpProxy
let router: RouterProcess

/** serving is what node n1's /healthz says (undefined: no answer). */
async function serving(): Promise<boolean | undefined> {
  const res = await dataPlaneFetch(dp.nodes.n1!.address!, '/healthz', {signal: AbortSignal.timeout(5000)})
  return ((await res.json()) as {serving?: boolean}).serving
}

beforeAll(async () => {
  dp = new DataPlane(inject('etcdEndpoint'), 'nodeslowetcd')
  // Only the node talks to etcd through the proxy; the router and the test talk to it directly.
  proxy = await startTcpProxy(dp.endpoint)
  dp.nodeEndpoint = () => proxy.endpoint
  await dp.init(1, 2, 1)
  router = await dp.startRouter('r1')
})

afterAll(async () => {
  await proxy?.close()
  await dp?.teardown()
})

describe('node on a slow etcd', () => {
  it('Given a node whose lease lapsed when etcd answered late, When etcd answers within half the TTL (a live lease survives that), Then the node gets a new lease, serves again, and every acknowledged write reads back', {timeout: 120_000}, async () => {
    expect((await kv(router.address, 'PUT', 'a', '1')).status).toBe(204)
    // Later than 0.9 TTL: no keepalive answer arrives in time and the lease lapses.
    // (Not much later: every etcd call gets 5 s once its connection is up, src/etcd/connectFirst.ts.)
    proxy.lagReplies(TTL_MS * 1.15)
    await waitFor(async () => ((await serving()) === false ? true : undefined), 'the node to stop serving after its lease lapsed', 40_000)
    // Half the TTL: a live lease's keepalives (one every 0.1 TTL) are answered in time, but a
    // new lease's first keepalive can be sent only once the grant is answered, so its answer
    // comes two round trips (>= TTL) after the grant was sent, past the 0.9 TTL the grant
    // vouches for: before the fix every new lease lapsed before the node had registered under it.
    proxy.lagReplies(TTL_MS * 0.5)
    await waitFor(async () => ((await serving()) === true ? true : undefined), 'the node to serve again while etcd is slow', 60_000).catch((err) => {
      console.log(dp.nodeLogs().slice(-6000))
      throw err
    })
    // Registered again: alive/n1 is back (a barrier counts the node again).
    expect(await dp.ctx.store.get(dp.ctx.keys.alive('n1'))).toBeDefined()
    expect((await kv(router.address, 'PUT', 'b', '2')).status).toBe(204)
    expect((await kv(router.address, 'GET', 'a')).body.toString()).toBe('1')
    expect((await kv(router.address, 'GET', 'b')).body.toString()).toBe('2')
    expect(dp.nodeLogs()).toMatch(/re-registered after lease loss/)
    proxy.lagReplies(0)
  })
})
