import {afterAll, beforeAll, describe, expect, inject, it} from 'vitest'
import {type EtcdStore} from '../../../src/etcd/etcdStore.js'
import {keysOf} from '../../../src/etcd/keys.js'
import {grantLease} from '../../../src/etcd/leaseHandle.js'
import {startTcpProxy} from '../../support/tcpProxy.js'
import {StoreSet, uniqueCluster} from '../../support/testStore.js'

// Why a lease keeps one keepalive stream (etcd3's, timed and paced in leaseHandle.ts) and
// not a keepaliveOnce (a stream each) every TTL/10, as fc3d86a tried (reverted; review17):
// etcd3's rpc.js marks the host failed for every stream that errors while writable, and
// the host's default circuit breaker opens after 3 consecutive recoverable failures
// (UNAVAILABLE, DEADLINE_EXCEEDED, ...) for 5 s, during which every call to that host
// (keepalives, grants, gets) fails at once. With answers slower than a beat several
// keepalives are in flight, and one connection reset fails them all together: the breaker
// opens and the holder lapses a lease etcd still holds. One stream per lease: one reset,
// one failure. Both cases fail with a stream per keepalive.

const stores = new StoreSet()
const cluster = uniqueCluster('lease-reset')
const keys = keysOf(cluster)
let endpoint: string
let store: EtcdStore

beforeAll(() => {
  endpoint = inject('etcdEndpoint')
  store = stores.open(endpoint, cluster)
})
afterAll(() => {
  stores.closeAll()
})

describe('lease keepalives across a connection reset', () => {
  it('given keepalive answers 1.5 s late (several in flight), when the connection is reset once, then the 3 s lease is not counted lost and the client can talk to etcd again at once', {timeout: 40_000}, async () => {
    const proxy = await startTcpProxy(endpoint)
    try {
      const cut = stores.open(proxy.endpoint, cluster)
      const lease = await grantLease(cut, 3)
      const key = keys.alive('reset')
      await cut.put(key, 'x', lease.id)
      let lostErr: Error | undefined
      lease.onLost((err) => (lostErr ??= err))
      proxy.lagReplies(1500)
      await new Promise((r) => setTimeout(r, 2500)) // ~5 keepalives in flight, answers still in time

      proxy.block() // one reset: every open stream fails at once
      proxy.unblock()
      proxy.lagReplies(0)
      await new Promise((r) => setTimeout(r, 4000))

      const seen = {
        // etcd never lost it: the next beats after the reset renew it
        inEtcd: (await store.get(key))?.lease === lease.id,
        lost: lostErr?.message ?? lease.lost,
        // and the client is not locked out of etcd by an open circuit breaker
        get: await cut.get(key).then(() => 'ok', (err: Error) => `failed: ${err.message}`),
      }
      expect(seen).toEqual({inEtcd: true, lost: false, get: 'ok'})
      await lease.revoke()
    } finally {
      await proxy.close()
    }
  })

  it('given a half-open connection for 3.5 s (the 3 s lease lapses, as it should), when the network heals, then 300 ms later a new lease can be granted at once (a node re-registers)', {timeout: 40_000}, async () => {
    // Every keepalive sent before the holder gave up fails on its own deadline (DEADLINE_EXCEEDED,
    // recoverable) or on the reset: each marks the host failed, and the breaker locks the client
    // out of etcd for 5 s after it is reachable again.
    const proxy = await startTcpProxy(endpoint)
    try {
      const cut = stores.open(proxy.endpoint, cluster)
      const lease = await grantLease(cut, 3)
      await new Promise((r) => setTimeout(r, 1000))
      proxy.freeze()
      await new Promise((r) => setTimeout(r, 3500))
      expect(lease.lost).toBe(true)
      proxy.thaw()
      await new Promise((r) => setTimeout(r, 300)) // the dropped connection's streams have failed by now

      const regrant = await grantLease(cut, 3).then(
        async (l) => {
          await l.revoke()
          return 'ok'
        },
        (err: Error) => `failed: ${err.message}`,
      )
      expect(regrant).toBe('ok')
    } finally {
      await proxy.close()
    }
  })
})
