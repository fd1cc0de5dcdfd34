import {afterAll, beforeAll, describe, expect, inject, it, vi} from 'vitest'
import {type EtcdStore} from '../../../src/etcd/etcdStore.js'
import {keysOf} from '../../../src/etcd/keys.js'
import {type WatchEvent, watchPrefix} from '../../../src/etcd/resumableWatch.js'
import {StoreSet, uniqueCluster} from '../../support/testStore.js'

const stores = new StoreSet()
const cluster = uniqueCluster('watch')
const keys = keysOf(cluster)
let store: EtcdStore
let writer: EtcdStore

beforeAll(() => {
  store = stores.open(inject('etcdEndpoint'), cluster)
  writer = stores.open(inject('etcdEndpoint'), cluster)
})
afterAll(() => stores.closeAll())

const brief = (evs: WatchEvent[]) => evs.map((e) => `${e.type} ${e.key.slice(keys.prefix.length)}${e.type === 'put' ? `=${e.value}` : ''}`)

describe('watchPrefix', () => {
  it('given a watch from the current revision, when keys are put and deleted, then each change arrives once, in order', async () => {
    const events: WatchEvent[] = []
    const from = await store.revision()
    const watch = watchPrefix(store, keys.nodesPrefix, {fromRevision: from, onEvent: (e) => events.push(e), resync: () => store.revision()})
    try {
      await writer.put(keys.node('a'), '1')
      await writer.put(keys.node('b'), '2')
      await writer.put(keys.node('a'), '3')
      await writer.delete(keys.node('b'))
      await writer.put(keys.shard(1), 'outside the prefix')

      await vi.waitFor(() => expect(events).toHaveLength(4), {timeout: 20_000})
      expect(brief(events)).toEqual(['put nodes/a=1', 'put nodes/b=2', 'put nodes/a=3', 'delete nodes/b'])
      expect(events.map((e) => e.modRevision)).toEqual([...events.map((e) => e.modRevision)].sort((x, y) => (x < y ? -1 : 1)))
      expect(watch.lastRevision()).toBe(events[3]!.modRevision)
    } finally {
      await watch.close()
    }
  })

  it('given a watch from an older revision, then it first replays the changes made since', async () => {
    const from = await store.revision()
    await writer.put(keys.alive('x'), 'before-watch-1')
    await writer.delete(keys.alive('x'))
    const events: WatchEvent[] = []

    const watch = watchPrefix(store, keys.alivePrefix, {fromRevision: from, onEvent: (e) => events.push(e), resync: () => store.revision()})
    try {
      await writer.put(keys.alive('y'), 'after-watch')

      await vi.waitFor(() => expect(events).toHaveLength(3), {timeout: 20_000})
      expect(brief(events)).toEqual(['put alive/x=before-watch-1', 'delete alive/x', 'put alive/y=after-watch'])
    } finally {
      await watch.close()
    }
  })

  it('given a closed watch, when keys change, then nothing more is delivered', async () => {
    const events: WatchEvent[] = []
    const watch = watchPrefix(store, keys.movesPrefix, {fromRevision: await store.revision(), onEvent: (e) => events.push(e), resync: () => store.revision()})
    await writer.put(keys.move('m1'), '1')
    await vi.waitFor(() => expect(events).toHaveLength(1), {timeout: 20_000})

    await watch.close()
    await writer.put(keys.move('m2'), '2')
    // A marker watch proves the m2 event was dispatched before we look.
    const marker: WatchEvent[] = []
    const probe = watchPrefix(store, keys.movesPrefix, {fromRevision: events[0]!.modRevision, onEvent: (e) => marker.push(e), resync: () => store.revision()})
    await vi.waitFor(() => expect(marker).toHaveLength(1), {timeout: 20_000})
    await probe.close()

    expect(brief(events)).toEqual(['put moves/m1=1'])
  })

  it('given one transaction that changes several keys, then every change arrives (they share one revision)', async () => {
    const events: WatchEvent[] = []
    await writer.put(keys.router('old'), '0')
    const watch = watchPrefix(store, keys.routersPrefix, {fromRevision: await store.revision(), onEvent: (e) => events.push(e), resync: () => store.revision()})
    try {
      const rev = await writer.commit({compares: [], puts: [{key: keys.router('r1'), value: '1'}, {key: keys.router('r2'), value: '2'}], deletes: [keys.router('old')]})

      await vi.waitFor(() => expect(events).toHaveLength(3), {timeout: 20_000})
      expect(brief(events).sort()).toEqual(['delete routers/old', 'put routers/r1=1', 'put routers/r2=2'])
      expect(events.every((e) => e.modRevision === rev)).toBe(true)
    } finally {
      await watch.close()
    }
  })

  it('given many writes in a burst, then none is lost or duplicated', async () => {
    const events: WatchEvent[] = []
    const watch = watchPrefix(store, keys.statsPrefix, {fromRevision: await store.revision(), onEvent: (e) => events.push(e), resync: () => store.revision()})
    try {
      await Promise.all(Array.from({length: 200}, (_, i) => writer.put(keys.stats(`n${i}`), String(i))))

      await vi.waitFor(() => expect(events).toHaveLength(200), {timeout: 20_000})
      expect(new Set(events.map((e) => e.key)).size).toBe(200)
      expect(new Set(events.map((e) => e.modRevision)).size).toBe(200)
    } finally {
      await watch.close()
    }
  })
})
