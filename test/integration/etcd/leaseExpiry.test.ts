import {Etcd3} from 'etcd3'
import {afterAll, beforeAll, describe, expect, inject, it, vi} from 'vitest'
import {type EtcdStore} from '../../../src/etcd/etcdStore.js'
import {keysOf} from '../../../src/etcd/keys.js'
import {grantLease} from '../../../src/etcd/leaseHandle.js'
import {type WatchEvent, watchPrefix} from '../../../src/etcd/resumableWatch.js'
import {type HolderProcess, startHolder} from '../../support/holderProcess.js'
import {startTcpProxy} from '../../support/tcpProxy.js'
import {StoreSet, uniqueCluster} from '../../support/testStore.js'

const stores = new StoreSet()
const cluster = uniqueCluster('lease')
const keys = keysOf(cluster)
const holders: HolderProcess[] = []
let endpoint: string
let store: EtcdStore

beforeAll(() => {
  endpoint = inject('etcdEndpoint')
  store = stores.open(endpoint, cluster)
})
afterAll(async () => {
  await Promise.all(holders.map((h) => h.kill()))
  stores.closeAll()
})

describe('leases', () => {
  it('given a process holding a lease-attached key, when it is SIGKILLed, then the key vanishes once the TTL lapses', async () => {
    const key = keys.alive('n1')
    const holder = await startHolder('lease', endpoint, cluster, key, 2)
    holders.push(holder)
    const held = await store.get(key)
    expect(held).toMatchObject({value: JSON.stringify({pid: holder.pid})})
    expect(held!.lease).not.toBe('0')
    const events: WatchEvent[] = []
    const watch = watchPrefix(store, keys.alivePrefix, {fromRevision: held!.modRevision, onEvent: (e) => events.push(e), resync: () => store.revision()})
    try {
      await holder.kill()

      await vi.waitFor(() => expect(events.some((e) => e.type === 'delete' && e.key === key)).toBe(true), {timeout: 20_000, interval: 200})
      expect(await store.get(key)).toBeUndefined()
    } finally {
      await watch.close()
    }
  })

  it('given a lease kept alive in-process, when more than twice its TTL passes, then its key is still there', async () => {
    const lease = await grantLease(store, 2)
    const key = keys.alive('kept')
    await store.put(key, 'x', lease.id)

    await new Promise((r) => setTimeout(r, 5000)) // > 2×TTL: only keepalives can explain survival

    expect(await store.get(key)).toMatchObject({lease: lease.id})
    expect(lease.lost).toBe(false)
    await lease.revoke()
  })

  it('given a holder cut off from etcd by a half-open network, when etcd expires its lease (another client sees the key gone), then the holder already reports it lost', {timeout: 40_000}, async () => {
    // A barrier skips a member whose alive/<id> is gone; a node or router that still
    // serves then (etcd3 alone declares a lease lost only 2×TTL after its last answered
    // keepalive) could take, and acknowledge, writes on a stale map after that barrier.
    const proxy = await startTcpProxy(endpoint)
    try {
      const cut = stores.open(proxy.endpoint, cluster)
      const lease = await grantLease(cut, 2)
      let lostAt: number | undefined
      lease.onLost(() => (lostAt ??= Date.now()))
      const key = keys.alive('half-open')
      await cut.put(key, 'x', lease.id)
      await new Promise((r) => setTimeout(r, 1500)) // a keepalive or two answered
      proxy.freeze()

      await vi.waitFor(async () => expect(await store.get(key)).toBeUndefined(), {timeout: 20_000, interval: 50})

      expect(lease.lost).toBe(true)
      // The callback (a member's cue to re-register) runs too.
      await vi.waitFor(() => expect(lostAt).toBeDefined(), {timeout: 5000, interval: 10})
    } finally {
      await proxy.close()
    }
  })

  it('given a holder whose answers from etcd arrive 3 s late (etcd gets its keepalives at once), when two TTLs pass, then its 5 s lease is neither lapsed in etcd nor counted lost', {timeout: 40_000}, async () => {
    // The holder counts on 0.9×TTL (4.5 s) after the newest answered keepalive was sent. At
    // etcd3's pace (a keepalive every TTL/3, 1.7 s) the next answer came 1.7 + 3 s after it:
    // a lease etcd held was counted lost (a node would stop serving to re-register).
    // That shows within a TTL of the lag starting: the deadline of the last answer before the
    // lag falls 4.5 s after it, and from then on every answer is 3 s late, so each later gap
    // repeats the first. Two TTLs (the wait was three) also outlast the lease in etcd had
    // the lagged keepalives not renewed it.
    const proxy = await startTcpProxy(endpoint)
    try {
      const slow = stores.open(proxy.endpoint, cluster)
      const lease = await grantLease(slow, 5)
      const key = keys.alive('slow-answers')
      await slow.put(key, 'x', lease.id)
      await new Promise((r) => setTimeout(r, 1000))
      proxy.lagReplies(3000)

      await new Promise((r) => setTimeout(r, 10_000))

      expect(await store.get(key)).toMatchObject({lease: lease.id})
      expect(lease.lost).toBe(false)
      proxy.lagReplies(0)
      await lease.revoke()
    } finally {
      await proxy.close()
    }
  })

  it('given a lease revoked by another client (an operator, or etcd-io/etcd#15247: a stalled old leader revoking leases early), then the holder counts it lost at its next keepalive, long before its own 0.9×TTL deadline would', async () => {
    // A 20 s TTL: the deadline would declare the loss about 18 s after the last answered
    // keepalive; the keepalive after the revoke (every 2 s) is answered with TTL 0 and must
    // end the lease at once. The loss's error tells which path declared it, so this needs no timing.
    const lease = await grantLease(store, 20)
    const key = keys.alive('revoked-elsewhere')
    await store.put(key, 'x', lease.id)
    const lost = new Promise<Error>((resolve) => lease.onLost(resolve))
    const other = new Etcd3({hosts: endpoint})
    try {
      await other.leaseClient.leaseRevoke({ID: lease.id})
      const err = await Promise.race([lost, new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 12_000).unref())])
      expect(err, 'the holder still counted its revoked lease as held 12 s after the revoke').toBeDefined()
      expect(err!.message).not.toMatch(/no keepalive of lease/)
      expect(lease.lost).toBe(true)
      expect(await store.get(key)).toBeUndefined()
    } finally {
      other.close()
      await lease.revoke()
    }
  }, 30_000)

  it('given a lease, when revoked, then its keys are deleted and it reports lost', async () => {
    const lease = await grantLease(store, 10)
    const key = keys.alive('revoked')
    await store.put(key, 'x', lease.id)

    await lease.revoke()
    await lease.revoke() // idempotent

    expect(await store.get(key)).toBeUndefined()
    expect(lease.lost).toBe(true)
  })
})
