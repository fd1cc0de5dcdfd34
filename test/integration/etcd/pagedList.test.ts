import {afterAll, beforeAll, describe, expect, inject, it} from 'vitest'
import {z} from 'zod'
import {type EtcdStore, MAX_TXN_OPS} from '../../../src/etcd/etcdStore.js'
import {keysOf} from '../../../src/etcd/keys.js'
import {shardSplitKeys} from '../../../src/cluster/shardMapFollower.js'
import {listInParts} from '../../../src/store/splitListing.js'
import {StoreSet, uniqueCluster} from '../../support/testStore.js'

const COUNT = 20_000
const PAGE = 250 // 80 pages: the paging loop, not one big range, does the work
const WRITERS = 4

const stores = new StoreSet()
const cluster = uniqueCluster('paged')
const keys = keysOf(cluster)
let store: EtcdStore
let writer: EtcdStore
const expectedKeys = Array.from({length: COUNT}, (_, i) => keys.shard(i))

/** fill writes every key in transactions of MAX_TXN_OPS puts, WRITERS at a time. */
async function fill(): Promise<void> {
  const batches: string[][] = []
  for (let i = 0; i < expectedKeys.length; i += MAX_TXN_OPS) batches.push(expectedKeys.slice(i, i + MAX_TXN_OPS))
  let next = 0
  const worker = async () => {
    while (next < batches.length) {
      const batch = batches[next++]!
      await writer.commit({compares: [], puts: batch.map((key) => ({key, value: JSON.stringify({id: Number(key.slice(-8))})}))})
    }
  }
  await Promise.all(Array.from({length: WRITERS}, worker))
}

beforeAll(async () => {
  store = stores.open(inject('etcdEndpoint'), cluster)
  writer = stores.open(inject('etcdEndpoint'), cluster)
  await fill()
})
afterAll(() => stores.closeAll())

describe('EtcdStore.list paging', () => {
  it(`given ${COUNT} keys, when listed in pages of ${PAGE}, then every key comes back once, in key order`, async () => {
    const {items, revision} = await store.list(keys.shardsPrefix, {pageSize: PAGE})

    expect(items).toHaveLength(COUNT)
    expect(items.map((kv) => kv.key)).toEqual(expectedKeys)
    expect(items.every((kv) => kv.modRevision <= revision)).toBe(true)
  })

  it('given writes landing between pages, when listed, then the result is the view at the first page\'s revision', async () => {
    const before = keys.shard(0).replace(/\d+$/, '') + '-' // sorts before every shard key: already paged
    const after = `${keys.shard(COUNT)}` // sorts after every key: not paged yet
    const middle = keys.shard(COUNT / 2) // deleted while the list is under way
    let pages = 0
    const listPage = store.listPage.bind(store)
    store.listPage = async (prefix, query) => {
      const res = await listPage(prefix, query)
      if (++pages === 1) {
        await writer.put(before, '{}')
        await writer.put(after, '{}')
        await writer.delete(middle)
      }
      return res
    }
    try {
      const {items, revision} = await store.list(keys.shardsPrefix, {pageSize: PAGE})

      expect(pages).toBeGreaterThanOrEqual(COUNT / PAGE)
      expect(items.map((kv) => kv.key)).toEqual(expectedKeys)
      const later = await store.list(keys.shardsPrefix, {pageSize: PAGE})
      expect(later.revision).toBeGreaterThan(revision)
      expect(later.items.map((kv) => kv.key)).toEqual([before, ...expectedKeys.filter((k) => k !== middle), after])
    } finally {
      store.listPage = listPage
      await writer.put(middle, JSON.stringify({id: COUNT / 2}))
      await writer.delete(after)
      await writer.delete(before)
    }
  })

  it('given the default page size, when listed typed, then every value is validated and returned', async () => {
    const {items} = await store.listTyped(keys.shardsPrefix, z.object({id: z.number().int()}))

    expect(items).toHaveLength(COUNT)
    expect(items.every((kv, i) => kv.value.id === i)).toBe(true)
  })

  it('given a scan stopped after two pages, then no page beyond them is read and each held at most one page', async () => {
    let calls = 0
    // wrap is private: every etcd request goes through it, so counting its calls counts requests.
    type Wrap = (fn: () => Promise<unknown>, revision?: bigint) => Promise<unknown>
    const spied = store as unknown as {wrap: Wrap}
    const wrap = spied.wrap.bind(store)
    spied.wrap = async (fn, revision) => {
      calls++
      return wrap(fn, revision)
    }
    try {
      const seen: number[] = []
      for await (const page of store.scan(keys.shardsPrefix, {pageSize: PAGE})) {
        seen.push(page.items.length)
        if (seen.length === 2) break
      }
      expect(seen).toEqual([PAGE, PAGE])
      expect(calls).toBe(2)
    } finally {
      spied.wrap = wrap
    }
  })

  it('given the map cut into parts (as the shard-map follower reads it), when listed in parts at once, then every key comes back once, in key order, at one revision', async () => {
    const cuts = shardSplitKeys(keys.shard, COUNT)
    expect(cuts.length).toBe(1) // 20,000 shards: two parts of one page
    const split = await listInParts(store, keys.shardsPrefix, [...cuts, keys.shard(7), keys.shard(12_345)], {pageSize: PAGE * 10})
    expect(split.items.map((kv) => kv.key)).toEqual(expectedKeys)
    expect(split.items.every((kv) => kv.modRevision <= split.revision)).toBe(true)
  })

  it('given an empty prefix, when listed, then the result is empty with the current revision', async () => {
    const {items, revision} = await store.list(`${keys.prefix}nothing/`, {pageSize: PAGE})

    expect(items).toEqual([])
    expect(revision).toBeGreaterThan(0n)
  })
})
