import {afterAll, beforeAll, describe, expect, inject, it, vi} from 'vitest'
import {type EtcdStore} from '../../../src/etcd/etcdStore.js'
import {keysOf} from '../../../src/etcd/keys.js'
import {grantLease} from '../../../src/etcd/leaseHandle.js'
import {type WatchEvent, watchPrefix} from '../../../src/etcd/resumableWatch.js'
import {type HolderProcess, startHolder} from '../../support/holderProcess.js'
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
