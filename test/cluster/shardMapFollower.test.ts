import {afterEach, describe, expect, it, vi} from 'vitest'
import {makeServiceContext} from '../../src/cluster/serviceContext.js'
import {ShardMapFollower} from '../../src/cluster/shardMapFollower.js'
import {keysOf} from '../../src/etcd/keys.js'
import {HASH_NAME} from '../../src/model/hash.js'
import {type Shard} from '../../src/model/shard.js'
import {MemoryStore} from '../../src/store/memoryStore.js'
import {type WatchStatus} from '../../src/store/store.js'

const keys = keysOf('c')
const shard = (id: number, epoch: number): Shard => ({id, range: {lo: id * 10, hi: id * 10 + 10}, epoch, replicas: [{node: 'a', role: 'voter'}]})
const put = (store: MemoryStore, s: Shard) => store.put(keys.shard(s.id), JSON.stringify(s))
const epochs = (f: ShardMapFollower) => Object.fromEntries(f.all().map((s) => [s.id, s.epoch]))

const open: {store: MemoryStore; follower: ShardMapFollower}[] = []
afterEach(async () => {
  for (const o of open.splice(0)) {
    await o.follower.stop()
    o.store.close()
  }
})

/** follow starts a follower on a fresh memory store seeded with `seed`; `admin` is a second client writing as the executor would. */
async function follow(seed: Shard[], opts: ConstructorParameters<typeof ShardMapFollower>[1] = {}) {
  const store = new MemoryStore()
  const admin = store.connect()
  for (const s of seed) await put(admin, s)
  const follower = new ShardMapFollower(makeServiceContext(store, {cluster: 'c'}), opts)
  open.push({store, follower}, {store: admin, follower})
  await follower.start()
  return {store, admin, follower}
}

/** settle writes an unrelated shard 9 and waits until the follower has it, so the store has moved past the follower's start listing. */
async function settle(admin: MemoryStore, follower: ShardMapFollower): Promise<void> {
  const rev = await put(admin, shard(9, 1))
  await vi.waitFor(() => expect(follower.mapRevision()).toBe(rev))
}

describe('ShardMapFollower on the memory store', () => {
  it('Given a resync whose listing was read before an epoch bump but answered after the watch delivered it, Then the shard stays at the newer epoch and the revision does not go back', async () => {
    const {store, admin, follower} = await follow([shard(1, 1), shard(2, 1)])
    await settle(admin, follower) // the resync's listing must be newer than the start's, or it is ignored outright
    const gate = store.faults.hold({op: 'list', key: keys.shardsPrefix, when: 'after'})
    const resync = follower.resync() // reads now (epoch 1), answers when released
    await gate.reached
    const bumped = await put(admin, shard(1, 2))
    await vi.waitFor(() => expect(follower.get(1)?.epoch).toBe(2))
    const version = follower.version()

    gate.release()
    const listedAt = await resync

    expect(listedAt).toBeLessThan(bumped)
    expect(epochs(follower)).toEqual({1: 2, 2: 1, 9: 1})
    expect(follower.mapRevision()).toBe(bumped)
    expect(follower.version()).toBe(version) // nothing changed: a cached routing table stays valid
  })

  it('Given a resync racing a delete, Then a deleted shard does not come back from the older listing', async () => {
    const {store, admin, follower} = await follow([shard(1, 1), shard(2, 1)])
    await settle(admin, follower)
    const gate = store.faults.hold({op: 'list', key: keys.shardsPrefix, when: 'after'})
    const resync = follower.resync()
    await gate.reached
    await admin.delete(keys.shard(2))
    await vi.waitFor(() => expect(follower.get(2)).toBeUndefined())

    gate.release()
    await resync

    expect(epochs(follower)).toEqual({1: 1, 9: 1})
  })

  it('Given a shard created while a resync is in flight, Then the older listing (which lacks it) does not remove it', async () => {
    const {store, admin, follower} = await follow([shard(1, 1)])
    await settle(admin, follower)
    const gate = store.faults.hold({op: 'list', key: keys.shardsPrefix, when: 'after'})
    const resync = follower.resync()
    await gate.reached
    await put(admin, shard(3, 1)) // a split creating shard 3
    await vi.waitFor(() => expect(follower.get(3)).toBeDefined())

    gate.release()
    await resync

    expect(epochs(follower)).toEqual({1: 1, 3: 1, 9: 1})
  })

  it('Given a watch dropped in the middle of a burst of changes, When it resumes, Then no event is skipped and none is applied twice', async () => {
    const statuses: WatchStatus[] = []
    const {store, admin, follower} = await follow([shard(1, 1), shard(2, 1), shard(3, 1)], {onStatus: (s) => statuses.push(s)})
    const listings = vi.spyOn(store, 'listPage')
    // The stream drops after two more events and stays down while the executor writes on.
    store.dropWatches({afterEvents: 2, stayDown: true})
    await put(admin, shard(1, 2))
    await put(admin, shard(2, 2))
    await vi.waitFor(() => expect(statuses).toContain('disconnected'))
    const version = follower.version()
    await put(admin, shard(3, 2))
    await admin.commit({compares: [], puts: [{key: keys.shard(1), value: JSON.stringify(shard(1, 3))}, {key: keys.shard(4), value: JSON.stringify(shard(4, 1))}]})
    const last = await admin.delete(keys.shard(2)).then(() => admin.revision())
    expect(follower.version()).toBe(version) // down: it has seen none of these

    store.reconnectWatches()

    await vi.waitFor(() => expect(follower.mapRevision()).toBe(last))
    expect(epochs(follower)).toEqual({1: 3, 3: 2, 4: 1})
    expect(follower.version()).toBe(version + 4) // shard 3, shards 1 and 4 in one revision (two entries), shard 2's delete
    expect(listings).not.toHaveBeenCalled() // caught up from the watch, not by re-listing
  })

  it('Given a watch down while the history it needs is compacted, When it comes back, Then it re-lists once and converges', async () => {
    const {store, admin, follower} = await follow([shard(1, 1), shard(2, 1)])
    store.dropWatches({stayDown: true})
    await put(admin, shard(1, 2))
    await admin.delete(keys.shard(2))
    await put(admin, shard(5, 1))
    await admin.compact(await admin.revision())
    const listings = vi.spyOn(store, 'listPage')

    store.reconnectWatches()

    await vi.waitFor(() => expect(epochs(follower)).toEqual({1: 2, 5: 1}))
    expect(listings).toHaveBeenCalledTimes(1)
    expect(follower.mapRevision()).toBe(await admin.revision())
  })

  it('Given a refresh whose read was answered before an epoch bump and is held, and a watch that is down, Then a refresh called after the bump gets a read of its own and sees the new epoch, and callers while that read is queued share it', async () => {
    const {store, admin, follower} = await follow([shard(1, 1)])
    store.dropWatches({stayDown: true}) // the watch lags: only reads bring the bump in
    const gate = store.faults.hold({op: 'get', key: keys.shard(1), when: 'after'})
    const early = follower.refresh(1) // read now (epoch 1), answered when released
    await gate.reached
    await put(admin, shard(1, 2))
    const getAt = vi.spyOn(store, 'getAt')

    const late = follower.refresh(1)
    const alsoLate = follower.refresh(1)
    gate.release()

    expect((await early)?.epoch).toBe(1)
    expect((await late)?.epoch).toBe(2) // shared with the read in flight, it saw epoch 1
    expect(alsoLate).toBe(late)
    expect(getAt).toHaveBeenCalledTimes(1)
  })

  it('Given a refresh whose read failed, Then the read queued behind it is still sent and the next refresh starts afresh', async () => {
    const {store, follower} = await follow([shard(1, 1)])
    const gate = store.faults.hold({op: 'get', key: keys.shard(1)})
    store.faults.fail({op: 'get', key: keys.shard(1)})
    const failing = follower.refresh(1)
    await gate.reached
    const queued = follower.refresh(1)
    gate.release()

    await expect(failing).rejects.toMatchObject({code: 'ETCD_UNREACHABLE'})
    expect((await queued)?.epoch).toBe(1)
    expect((await follower.refresh(1))?.epoch).toBe(1)
  })

  it('Given a corrupt value, Then it is reported, never served, and its revision still counts as seen', async () => {
    const invalid: string[] = []
    const {admin, follower} = await follow([shard(1, 1)], {onInvalid: (key) => invalid.push(key)})
    const rev = await admin.put(keys.shard(1), '{"id":1')

    await vi.waitFor(() => expect(follower.mapRevision()).toBe(rev))
    expect(invalid).toEqual([keys.shard(1)])
    expect(follower.get(1)?.epoch).toBe(1)
  })

  it('Given a failing listing at start, Then start throws the store\'s error and a retry succeeds', async () => {
    const store = new MemoryStore()
    await put(store, shard(1, 1))
    store.faults.fail({op: 'list', key: keys.shardsPrefix})
    const follower = new ShardMapFollower(makeServiceContext(store, {cluster: 'c'}))
    open.push({store, follower})

    await expect(follower.start()).rejects.toMatchObject({code: 'ETCD_UNREACHABLE'})
    await follower.start()

    expect(epochs(follower)).toEqual({1: 1})
  })
})

describe('ShardMapFollower reading the map in parts', () => {
  /** meta's nextShardId 30,000 cuts the map into three parts: [0, 10000), [10000, 20000), [20000, ...). */
  const meta = {version: 1, name: 'c', rf: 1, hash: HASH_NAME, createdAt: '2026-01-01T00:00:00Z', nextShardId: 30_000}

  /**
   * compactBeforeLastPart makes each of the next `times` reads of the last part ([20000, ...)) first bump shard
   * 25,000's epoch and compact the store at that write, as etcd (auto-compaction, an operator) may do while a
   * follower reads a large map: the listing's revision is then gone before the part is read. Returns the bumps' revisions.
   */
  function compactBeforeLastPart(store: MemoryStore, times: number): bigint[] {
    const admin = store.connect()
    const bumps: bigint[] = []
    const listPage = store.listPage.bind(store)
    vi.spyOn(store, 'listPage').mockImplementation(async (prefix, query) => {
      if (query.from === keys.shard(20_000) && bumps.length < times) {
        const rev = await put(admin, shard(25_000, bumps.length + 2))
        bumps.push(rev)
        await admin.compact(rev)
      }
      return listPage(prefix, query)
    })
    return bumps
  }

  it('Given etcd compacting past the revision start lists at before the last part is read, Then start lists the map again at a newer revision and has the write made meanwhile', async () => {
    const store = new MemoryStore()
    await store.put(keys.meta, JSON.stringify(meta))
    for (const id of [1, 15_000, 25_000]) await put(store, shard(id, 1))
    const follower = new ShardMapFollower(makeServiceContext(store, {cluster: 'c'}))
    open.push({store, follower})
    const bumps = compactBeforeLastPart(store, 1)

    await follower.start()

    expect(bumps).toHaveLength(1)
    expect(epochs(follower)).toEqual({1: 1, 15000: 1, 25000: 2})
    expect(follower.mapRevision()).toBeGreaterThanOrEqual(bumps[0]!)
    // And it keeps following: the watch starts after the new listing, past the compaction.
    await settle(store, follower)
  })

  it('Given etcd compacting past every listing before it ends, Then start gives up after three listings with a CONFLICT that says why, and nothing is folded in', async () => {
    const store = new MemoryStore()
    await store.put(keys.meta, JSON.stringify(meta))
    for (const id of [1, 15_000, 25_000]) await put(store, shard(id, 1))
    const follower = new ShardMapFollower(makeServiceContext(store, {cluster: 'c'}))
    open.push({store, follower})
    const bumps = compactBeforeLastPart(store, Infinity)

    const err = await follower.start().then(() => undefined, (e: unknown) => e)

    expect(err).toMatchObject({code: 'CONFLICT', message: expect.stringContaining('3 listings in a row'), hint: expect.stringContaining('compact')})
    expect(bumps).toHaveLength(3)
    expect(follower.all()).toEqual([])
  })

  it('Given a resync read in several parts while the map changed, Then until the last part is in the follower still serves the previous whole map, and afterwards exactly the new one', async () => {
    // meta's nextShardId 30,000 cuts the listing into three parts ([0, 10000), [10000, 20000), [20000, ...)); four shards spread over them.
    const store = new MemoryStore()
    await store.put(keys.meta, JSON.stringify(meta))
    for (const id of [1, 2, 15_000, 25_000]) await put(store, shard(id, 1))
    const follower = new ShardMapFollower(makeServiceContext(store, {cluster: 'c'}))
    open.push({store, follower})
    await follower.start()
    const before = epochs(follower)
    expect(before).toEqual({1: 1, 2: 1, 15000: 1, 25000: 1})

    // The watch is down, so only the resync can bring these in: an epoch bump in every part, a delete, a new shard.
    store.dropWatches({stayDown: true})
    for (const id of [1, 15_000, 25_000]) await put(store, shard(id, 2))
    await store.delete(keys.shard(2))
    await put(store, shard(26_000, 1))

    const seenBetweenParts: Record<number, number>[] = []
    const listPage = store.listPage.bind(store)
    const pages = vi.spyOn(store, 'listPage').mockImplementation(async (prefix, query) => {
      seenBetweenParts.push(epochs(follower))
      return listPage(prefix, query)
    })
    await follower.resync()

    expect(pages.mock.calls.map(([, q]) => q.from ?? '')).toEqual(['', keys.shard(10_000), keys.shard(20_000)])
    expect(seenBetweenParts).toEqual([before, before, before])
    expect(epochs(follower)).toEqual({1: 2, 15000: 2, 25000: 2, 26000: 1})
  })

  it('Given a part that fails mid-resync, Then nothing of the parts already read is folded in', async () => {
    const store = new MemoryStore()
    await store.put(keys.meta, JSON.stringify(meta))
    for (const id of [1, 15_000, 25_000]) await put(store, shard(id, 1))
    const follower = new ShardMapFollower(makeServiceContext(store, {cluster: 'c'}))
    open.push({store, follower})
    await follower.start()
    store.dropWatches({stayDown: true})
    for (const id of [1, 15_000, 25_000]) await put(store, shard(id, 2))
    const version = follower.version()

    const listPage = store.listPage.bind(store)
    vi.spyOn(store, 'listPage').mockImplementation(async (prefix, query) => {
      if (query.from === keys.shard(20_000)) throw new Error('etcd went away')
      return listPage(prefix, query)
    })
    await expect(follower.resync()).rejects.toThrow('etcd went away')

    expect(epochs(follower)).toEqual({1: 1, 15000: 1, 25000: 1})
    expect(follower.version()).toBe(version)
  })
})
