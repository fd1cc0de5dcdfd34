import {afterAll, beforeAll, describe, expect, it, vi} from 'vitest'
import {type EtcdStore} from '../../../src/etcd/etcdStore.js'
import {keysOf} from '../../../src/etcd/keys.js'
import {type WatchEvent, type WatchStatus, watchPrefix} from '../../../src/etcd/resumableWatch.js'
import {startPrivateEtcd, type PrivateEtcd} from '../../support/privateEtcd.js'
import {startTcpProxy, type TcpProxy} from '../../support/tcpProxy.js'
import {StoreSet, uniqueCluster} from '../../support/testStore.js'

const stores = new StoreSet()
const cluster = uniqueCluster('resume')
const keys = keysOf(cluster)
let etcd: PrivateEtcd
let proxy: TcpProxy

beforeAll(async () => {
  etcd = await startPrivateEtcd()
  proxy = await startTcpProxy(etcd.endpoint)
})
afterAll(async () => {
  stores.closeAll()
  await proxy?.close()
  await etcd?.dispose()
})

/** putEventually retries a create until etcd answers again after a restart; create makes a retry after a lost reply harmless. */
async function createEventually(store: EtcdStore, key: string, value: string): Promise<void> {
  await vi.waitFor(
    async () => {
      try {
        await store.create(key, value)
      } catch (err) {
        if ((err as {code?: string}).code !== 'ALREADY_EXISTS') throw err
      }
    },
    {timeout: 20_000, interval: 200},
  )
}

const brief = (evs: WatchEvent[]) => evs.map((e) => `${e.type} ${e.key.slice(keys.prefix.length)}`)

describe('watchPrefix across etcd outages', {timeout: 90_000}, () => {
  it('given a running watch, when etcd restarts and keys change right after, then every change arrives exactly once', async () => {
    const watching = stores.open(etcd.endpoint, cluster)
    const writer = stores.open(etcd.endpoint, cluster)
    const events: WatchEvent[] = []
    const statuses: WatchStatus[] = []
    const resync = vi.fn(() => watching.revision())
    const watch = watchPrefix(watching, keys.nodesPrefix, {fromRevision: await writer.revision(), onEvent: (e) => events.push(e), resync, onStatus: (s) => statuses.push(s)})
    try {
      await writer.put(keys.node('before'), '1')
      await vi.waitFor(() => expect(events).toHaveLength(1), {timeout: 20_000})

      await etcd.restart()
      for (const k of ['after1', 'after2', 'after3']) await createEventually(writer, keys.node(k), '2')
      await writer.delete(keys.node('before'))

      await vi.waitFor(() => expect(events).toHaveLength(5), {timeout: 25_000})
      expect(brief(events)).toEqual(['put nodes/before', 'put nodes/after1', 'put nodes/after2', 'put nodes/after3', 'delete nodes/before'])
      expect(statuses).toContain('disconnected')
      expect(statuses.at(-1)).toBe('connected')
      expect(resync).not.toHaveBeenCalled()
      // Nothing more trickles in later (no duplicates from the resumed stream).
      await writer.put(keys.node('marker'), '3')
      await vi.waitFor(() => expect(events).toHaveLength(6), {timeout: 20_000})
      expect(brief(events).slice(5)).toEqual(['put nodes/marker'])
    } finally {
      await watch.close()
    }
  })

  it('given a watch cut off from etcd, when history it needs is compacted meanwhile, then it resyncs once and keeps watching', async () => {
    const watching = stores.open(proxy.endpoint, cluster) // reaches etcd only through the proxy
    const admin = stores.open(etcd.endpoint, cluster)
    const events: WatchEvent[] = []
    const statuses: WatchStatus[] = []
    let resyncRevision = 0n
    const resync = vi.fn(async () => {
      const {revision} = await watching.list(keys.shardsPrefix)
      resyncRevision = revision
      return revision
    })
    const watch = watchPrefix(watching, keys.shardsPrefix, {fromRevision: await admin.revision(), onEvent: (e) => events.push(e), resync, onStatus: (s) => statuses.push(s)})
    try {
      await admin.put(keys.shard(1), 'seen')
      await vi.waitFor(() => expect(events).toHaveLength(1), {timeout: 20_000})

      proxy.block()
      await vi.waitFor(() => expect(statuses).toContain('disconnected'), {timeout: 20_000})
      await admin.put(keys.shard(2), 'missed')
      await admin.put(keys.shard(3), 'missed')
      const compactTo = await admin.revision()
      await admin.compact(compactTo)
      proxy.unblock()

      await vi.waitFor(() => expect(resyncRevision).toBeGreaterThanOrEqual(compactTo), {timeout: 25_000})
      expect(statuses).toContain('resyncing')
      await admin.put(keys.shard(4), 'after')
      await vi.waitFor(() => expect(events).toHaveLength(2), {timeout: 20_000})

      // The compacted changes were not replayed (the resync read covers them); the new one arrives.
      expect(brief(events)).toEqual(['put shards/00000001', 'put shards/00000004'])
      expect(resync).toHaveBeenCalledTimes(1)
      expect(watch.lastRevision()).toBe(events[1]!.modRevision)
    } finally {
      await watch.close()
    }
  })

  it('given a half-open connection (packets silently dropped), then gRPC keepalive notices, and the watch resumes without loss once the network heals', async () => {
    const watching = stores.open(proxy.endpoint, cluster)
    const admin = stores.open(etcd.endpoint, cluster)
    const events: WatchEvent[] = []
    const statuses: WatchStatus[] = []
    const resync = vi.fn(() => watching.revision())
    const watch = watchPrefix(watching, keys.routersPrefix, {fromRevision: await admin.revision(), onEvent: (e) => events.push(e), resync, onStatus: (s) => statuses.push(s)})
    try {
      await admin.put(keys.router('r1'), 'before')
      await vi.waitFor(() => expect(events).toHaveLength(1), {timeout: 20_000})

      proxy.freeze()
      await admin.put(keys.router('r2'), 'during')
      // Keepalive (10 s ping + 5 s timeout) must declare the silent stream dead.
      await vi.waitFor(() => expect(statuses).toContain('disconnected'), {timeout: 40_000, interval: 250})
      expect(events).toHaveLength(1)
      proxy.thaw()
      await admin.put(keys.router('r3'), 'after')

      await vi.waitFor(() => expect(events).toHaveLength(3), {timeout: 20_000})
      expect(brief(events)).toEqual(['put routers/r1', 'put routers/r2', 'put routers/r3'])
      expect(resync).not.toHaveBeenCalled()
    } finally {
      await watch.close()
    }
  })

  it('given a start revision that is already compacted, then the watch resyncs instead of failing silently', async () => {
    const store = stores.open(etcd.endpoint, cluster)
    const old = await store.revision()
    await store.put(keys.move('m1'), 'x')
    await store.put(keys.move('m2'), 'y')
    const now = await store.revision()
    await store.compact(now)
    const events: WatchEvent[] = []
    const resync = vi.fn(() => store.revision())

    const watch = watchPrefix(store, keys.movesPrefix, {fromRevision: old, onEvent: (e) => events.push(e), resync})
    try {
      await vi.waitFor(() => expect(resync).toHaveBeenCalledTimes(1), {timeout: 20_000})
      await store.put(keys.move('m3'), 'z')
      await vi.waitFor(() => expect(events).toHaveLength(1), {timeout: 20_000})
      expect(brief(events)).toEqual(['put moves/m3'])
    } finally {
      await watch.close()
    }
  })
})
