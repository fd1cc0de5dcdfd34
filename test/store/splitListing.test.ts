import fc from 'fast-check'
import {describe, expect, it, vi} from 'vitest'
import {shardSplitKeys} from '../../src/cluster/shardMapFollower.js'
import {keysOf} from '../../src/etcd/keys.js'
import {MemoryStore} from '../../src/store/memoryStore.js'
import {listInParts, scanInParts} from '../../src/store/splitListing.js'

/** listInParts must return exactly what one list returns, however the parts are cut. */

describe('listInParts', () => {
  it('Given any keys and any split keys (inside, outside, unsorted, duplicated), Then it returns exactly the one-listing result', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uniqueArray(fc.string({minLength: 0, maxLength: 3}), {maxLength: 30}), fc.array(fc.string({maxLength: 4}), {maxLength: 6}), fc.integer({min: 1, max: 5}), async (names, cuts, pageSize) => {
        const store = new MemoryStore()
        for (const n of names) await store.put(`p/${n}`, n)
        await store.put('p', 'the prefix without its slash')
        await store.put('p0', 'a sibling after the prefix')
        const whole = await store.list('p/')
        const parts = await listInParts(store, 'p/', cuts.map((c) => `p/${c}`).concat(cuts), {pageSize})
        expect(parts.items.map((kv) => kv.key)).toEqual(whole.items.map((kv) => kv.key))
        expect(parts.revision).toBe(whole.revision)
        store.close()
      }),
      {numRuns: 200},
    )
  })

  it('Given writes after the listing started, Then every part reads at the one revision read first', async () => {
    const store = new MemoryStore()
    for (let i = 0; i < 20; i++) await store.put(`p/${String(i).padStart(2, '0')}`, 'old')
    const revision = await store.revision()
    const listPage = store.listPage.bind(store)
    let first = true
    vi.spyOn(store, 'listPage').mockImplementation(async (prefix, query) => {
      if (first) {
        first = false
        await store.put('p/05', 'new')
        await store.put('p/15', 'new')
        await store.put('p/99', 'new')
      }
      return listPage(prefix, query)
    })
    const {items, revision: read} = await listInParts(store, 'p/', ['p/10'], {pageSize: 3})
    expect(read).toBe(revision)
    expect(items).toHaveLength(20)
    expect(items.every((kv) => kv.value === 'old')).toBe(true)
    store.close()
  })
})

describe('scanInParts', () => {
  it('Given any keys and any split keys, Then every key reaches onPage exactly once, each part in key order, at the revision one listing reads', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uniqueArray(fc.string({minLength: 0, maxLength: 3}), {maxLength: 30}), fc.array(fc.string({maxLength: 4}), {maxLength: 6}), fc.integer({min: 1, max: 5}), async (names, cuts, pageSize) => {
        const store = new MemoryStore()
        for (const n of names) await store.put(`p/${n}`, n)
        await store.put('p0', 'a sibling after the prefix')
        const whole = await store.list('p/')
        const byPart = new Map<number, string[]>()
        const revision = await scanInParts(store, 'p/', cuts.map((c) => `p/${c}`), (items, part) => byPart.set(part, [...(byPart.get(part) ?? []), ...items.map((kv) => kv.key)]), {pageSize})
        for (const keys of byPart.values()) expect(keys).toEqual([...keys].sort())
        expect([...byPart.values()].flat().sort()).toEqual(whole.items.map((kv) => kv.key))
        expect(revision).toBe(whole.revision)
        store.close()
      }),
      {numRuns: 200},
    )
  })

  it('Given an empty prefix, Then onPage sees one empty page and the revision is the store\'s current one (a watch from it misses nothing)', async () => {
    const store = new MemoryStore()
    await store.put('q/1', 'elsewhere')
    const pages: number[] = []
    const revision = await scanInParts(store, 'p/', [], (items) => pages.push(items.length))
    expect(pages).toEqual([0])
    expect(revision).toBe(await store.revision())
    store.close()
  })

  it('Given a part that fails, Then the scan rejects with the store\'s error (a caller never takes a partial listing as whole)', async () => {
    const store = new MemoryStore()
    for (let i = 0; i < 20; i++) await store.put(`p/${String(i).padStart(2, '0')}`, 'v')
    const listPage = store.listPage.bind(store)
    vi.spyOn(store, 'listPage').mockImplementation(async (prefix, query) => {
      if (query.from === 'p/10') throw new Error('etcd went away')
      return listPage(prefix, query)
    })
    await expect(scanInParts(store, 'p/', ['p/10'], () => {}, {pageSize: 3})).rejects.toThrow('etcd went away')
    store.close()
  })
})

describe('shardSplitKeys', () => {
  const keys = keysOf('c')
  it('Given 100k shards, Then 10 parts of one page each, cut at shard keys in order; given one page or fewer, Then none', () => {
    const cuts = shardSplitKeys(keys.shard, 100_000)
    expect(cuts).toEqual([10_000, 20_000, 30_000, 40_000, 50_000, 60_000, 70_000, 80_000, 90_000].map((id) => keys.shard(id)))
    expect(shardSplitKeys(keys.shard, 10_000)).toEqual([])
    expect(shardSplitKeys(keys.shard, 0)).toEqual([])
    expect(shardSplitKeys(keys.shard, 1_000_000)).toHaveLength(15)
  })
})
