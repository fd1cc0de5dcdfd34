import {afterAll, beforeAll, describe, expect, inject, it} from 'vitest'
import {getShard} from '../../../src/cluster/clusterRepo.js'
import {ShardSchema} from '../../../src/model/shard.js'
import {isNodeRequestError} from '../../../src/node/nodeRequestError.js'
import {startTcpProxy, type TcpProxy} from '../../support/tcpProxy.js'
import {DataPlane, kv, waitFor} from './dataPlane.js'
import {type RouterProcess} from './routerProcess.js'

let dp: DataPlane
let proxy: TcpProxy
let router: RouterProcess

beforeAll(async () => {
  dp = new DataPlane(inject('etcdEndpoint'), 'refreshdeadline')
  await dp.init(1, 1, 1)
  // The router reaches etcd through the proxy (frozen below); the node and the test directly.
  proxy = await startTcpProxy(dp.endpoint)
  // A lease that outlives the freeze (the router keeps serving), and etcd calls that wait a
  // minute before failing: only the request's own deadline can end its wait.
  router = await dp.startRouter('r1', ['--request-timeout', '1s', '--lease-ttl', '40'], proxy.endpoint, {SHARDCTL_ETCD_TIMEOUT_MS: '60000'})
})

afterAll(async () => {
  await proxy?.close()
  await dp?.teardown()
})

/** BOUND_MS: far above the 1 s request deadline (a loaded machine), far below what etcd takes to fail a call (60 s, or gRPC's keepalive at about 15 s). */
const BOUND_MS = 10_000

describe('router whose etcd does not answer a map refresh', () => {
  it('Given a new epoch the router cannot read (its etcd frozen) and the replica refusing STALE_EPOCH, When a client writes and reads, Then each gets its 503 by the request deadline, while etcd is still frozen, and requests succeed once it thaws', {timeout: 90_000}, async () => {
    expect((await kv(router.address, 'PUT', 'a', '1')).status).toBe(204)
    const cur = await getShard(dp.ctx, 0)
    proxy.freeze()
    try {
      await dp.ctx.store.update(dp.ctx.keys.shard(0), JSON.stringify(ShardSchema.parse({...cur.value, epoch: cur.value.epoch + 1})), cur.modRevision)
      // The node learns the epoch (its own etcd is not frozen) and refuses the router's older one.
      const n1 = dp.client('n1')
      await waitFor(() => n1.get(0, cur.value.epoch, Buffer.from('a')).then(() => undefined, (err: unknown) => (isNodeRequestError(err, 'STALE_EPOCH') ? true : undefined)), 'the node to refuse the old epoch', 30_000)
      for (const [method, body] of [['PUT', '2'], ['GET', undefined]] as const) {
        const answer = kv(router.address, method, 'b', body).then((r) => `${r.status} ${r.body.toString()}`)
        const late = new Promise<string>((r) => setTimeout(() => r(`no answer within ${BOUND_MS} ms`), BOUND_MS))
        const first = await Promise.race([answer, late])
        expect(first).toMatch(/^503 .*STALE_EPOCH/)
      }
    } finally {
      proxy.thaw()
    }
    await waitFor(async () => ((await kv(router.address, 'PUT', 'b', '3')).status === 204 ? true : undefined), 'the router to route at the new epoch after the thaw', 40_000)
    expect((await kv(router.address, 'GET', 'a')).body.toString()).toBe('1')
  })
})
