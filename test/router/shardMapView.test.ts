import {afterEach, describe, expect, it, vi} from 'vitest'
import {makeServiceContext} from '../../src/cluster/serviceContext.js'
import {keysOf} from '../../src/etcd/keys.js'
import {type Shard} from '../../src/model/shard.js'
import {ShardMapView} from '../../src/router/shardMapView.js'
import {MemoryStore} from '../../src/store/memoryStore.js'

const keys = keysOf('c')
const shard = (id: number, epoch: number, range = {lo: id * 10, hi: id * 10 + 10}): Shard => ({id, range, epoch, replicas: [{node: 'a', role: 'voter'}]})
const put = (store: MemoryStore, s: Shard) => store.put(keys.shard(s.id), JSON.stringify(s))
/** split shrinks shard 1 to [0, 50) and adds shard 2 on [50, 100), in one transaction, as the executor's split does. */
const split = (admin: MemoryStore) =>
  admin.commit({compares: [], puts: [{key: keys.shard(1), value: JSON.stringify(shard(1, 2, {lo: 0, hi: 50}))}, {key: keys.shard(2), value: JSON.stringify(shard(2, 1, {lo: 50, hi: 100}))}]})
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

const open: {store: MemoryStore; view?: ShardMapView}[] = []
afterEach(async () => {
  for (const o of open.splice(0)) {
    await o.view?.close()
    o.store.close()
  }
})

/** viewOf starts a router's ShardMapView on a fresh memory store seeded with `seed`; `admin` writes as the executor would. */
async function viewOf(seed: Shard[]) {
  const store = new MemoryStore()
  const admin = store.connect()
  for (const s of seed) await put(admin, s)
  const view = new ShardMapView(makeServiceContext(store, {cluster: 'c'}))
  open.push({store, view}, {store: admin})
  await view.start()
  return {store, admin, view}
}

describe("the router's ShardMapView.refresh", () => {
  it('Given a refresh whose read was answered before an epoch bump and is held, and a watch that is down, Then a refresh called after the bump routes with the new epoch once it resolves (it does not share the read in flight)', async () => {
    const {store, admin, view} = await viewOf([shard(1, 1)])
    store.dropWatches({stayDown: true}) // the watch lags: only reads bring the bump in
    const gate = store.faults.hold({op: 'get', key: keys.shard(1), when: 'after'})
    const early = view.refresh(1) // read now (epoch 1), answered when released
    await gate.reached
    await put(admin, shard(1, 2))

    const late = view.refresh(1) // after a node's STALE_EPOCH: the router retries once this resolves
    gate.release()
    await early
    await late

    expect(view.table().shard(1)?.epoch).toBe(2)
  })

  it('Given a split seen by a refresh while a whole-map re-read sent before it is in flight, Then the refresh waits for a re-read of its own and routes the new half', async () => {
    const {store, admin, view} = await viewOf([shard(1, 1, {lo: 0, hi: 100})])
    store.dropWatches({stayDown: true})
    // A whole-map re-read sent before the split (after a lapsed lease, say), held.
    const gate = store.faults.hold({op: 'list', when: 'after'})
    const early = view.resync()
    await gate.reached
    // The split: the parent shrinks to [0, 50) and a child takes [50, 100).
    await split(admin)

    const late = view.refresh(1) // sees the parent's new range, so re-reads the whole map
    await vi.waitFor(() => expect(view.table().shard(1)?.range.hi).toBe(50))
    gate.release()
    await early
    await late

    expect(view.table().shardForHash(75)?.id).toBe(2)
  })
})

describe('the router\'s ShardMapView.refresh after a split (review17b)', () => {
  it('Given a first refresh that folded in the split parent and whose whole-map re-read is in flight, Then a refresh called after that (a second request answered STALE_EPOCH) resolves only once the child is routable', async () => {
    const {store, admin, view} = await viewOf([shard(1, 1, {lo: 0, hi: 100})])
    store.dropWatches({stayDown: true}) // the watch lags: only reads bring the split in
    await split(admin)
    const gate = store.faults.hold({op: 'list', when: 'after'})
    const first = view.refresh(1) // request X's STALE_EPOCH: get sees [0, 50), so re-reads the map (held)
    await gate.reached
    expect(view.table().shard(1)?.range.hi).toBe(50) // the hole [50, 100) is in the table now

    // Request Y (hash 75) was routed to shard 1 at epoch 1 before the split was folded in; its STALE_EPOCH comes now.
    const second = view.refresh(1)
    const routedAfterSecond = second.then(() => view.table().shardForHash(75)?.id)
    await sleep(30)
    gate.release()
    await first
    // The coordinator re-routes Y as soon as its refresh resolves: with no shard for hash 75, Y fails NOT_SERVING.
    expect(await routedAfterSecond).toBe(2)
  })

  it('Given a burst of refreshes of one split shard, all called before its first read was answered, Then the map is re-read once (the first re-read was sent after every one of them called)', async () => {
    const {store, admin, view} = await viewOf([shard(1, 1, {lo: 0, hi: 100})])
    store.dropWatches({stayDown: true})
    await split(admin)
    const follower = (view as unknown as {shards: {resync: () => Promise<bigint>}}).shards
    const resyncs = vi.spyOn(follower, 'resync')
    const gets = vi.spyOn(store, 'getAt')
    const burst = Array.from({length: 20}, () => view.refresh(1))
    await Promise.all(burst)
    expect(view.table().shardForHash(75)?.id).toBe(2)
    expect(gets.mock.calls.filter(([k]) => k === keys.shard(1)).length).toBeLessThanOrEqual(2) // the follower's per-shard reads: 2 (held to two by FreshReads)
    expect(resyncs).toHaveBeenCalledTimes(1) // on main: 2 whole-map reads (the second queued behind one sent after every caller asked)
  })
})
