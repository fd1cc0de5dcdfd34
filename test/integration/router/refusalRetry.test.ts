import {afterAll, beforeAll, describe, expect, inject, it} from 'vitest'
import {getShard} from '../../../src/cluster/clusterRepo.js'
import {ShardSchema} from '../../../src/model/shard.js'
import {RouterRecordSchema} from '../../../src/router/routerRegistration.js'
import {startTcpProxy, type TcpProxy} from '../../support/tcpProxy.js'
import {DataPlane, kv, waitFor} from './dataPlane.js'
import {type RouterProcess} from './routerProcess.js'

let dp: DataPlane
let proxy: TcpProxy
let router: RouterProcess

beforeAll(async () => {
  dp = new DataPlane(inject('etcdEndpoint'), 'refusalretry')
  // The node reaches etcd through the proxy (cut below); the router and the test directly.
  proxy = await startTcpProxy(dp.endpoint)
  dp.nodeEndpoint = () => proxy.endpoint
  // Longer than the cut plus etcd3's circuit breaker (open 5 s): the node keeps its lease throughout.
  dp.nodeLeaseTtl = '12s'
  await dp.init(1, 1, 1)
  // Under kv()'s 15 s client timeout, above the cut plus the breaker.
  router = await dp.startRouter('r1', ['--request-timeout', '12s'])
})

afterAll(async () => {
  await proxy?.close()
  await dp?.teardown()
})

describe('router retrying a replica that refuses NOT_SERVING', () => {
  it('Given rf 1 and a new epoch the only replica cannot confirm with etcd (its etcd cut for a moment: a cutover on a flaky etcd), When a client writes at that moment, Then the write is acknowledged once the node confirms it, not answered 503', {timeout: 90_000}, async () => {
    expect((await kv(router.address, 'PUT', 'a', '1')).status).toBe(204)
    const cur = await getShard(dp.ctx, 0)
    proxy.block()
    try {
      // A new epoch, same replica (what a move's phase change is to this shard's routing); the node does not see it.
      const next = ShardSchema.parse({...cur.value, epoch: cur.value.epoch + 1})
      await dp.ctx.store.update(dp.ctx.keys.shard(0), JSON.stringify(next), cur.modRevision)
      // The router routes with it (its registration reports the epochs it routes with).
      await waitFor(async () => {
        const reg = await dp.ctx.store.getTyped(dp.ctx.keys.router('r1'), RouterRecordSchema)
        return (reg?.value.epochs['0'] ?? 0) >= next.epoch ? true : undefined
      }, 'the router to route shard 0 at the new epoch', 20_000)
      const put = kv(router.address, 'PUT', 'b', '2')
      // The node refuses (NOT_SERVING: cannot confirm shard 0's epoch with etcd) while cut off.
      await new Promise((r) => setTimeout(r, 1000))
      proxy.unblock()
      const res = await put
      if (res.status !== 204) console.log(res.body.toString(), dp.nodeLogs().slice(-3000), router.logs().slice(-3000))
      expect(res.status).toBe(204)
    } finally {
      proxy.unblock()
    }
    expect((await kv(router.address, 'GET', 'b')).body.toString()).toBe('2')
    expect((await kv(router.address, 'GET', 'a')).body.toString()).toBe('1')
  })
})
