import {afterEach, describe, expect, it, vi} from 'vitest'
import {makeServiceContext} from '../../src/cluster/serviceContext.js'
import {keysOf} from '../../src/etcd/keys.js'
import {type Shard} from '../../src/model/shard.js'
import {ShardMapView} from '../../src/router/shardMapView.js'
import {MemoryStore} from '../../src/store/memoryStore.js'

const keys = keysOf('c')
const shard = (id: number, epoch: number, range = {lo: id * 10, hi: id * 10 + 10}): Shard => ({id, range, epoch, replicas: [{node: 'a', role: 'voter'}]})
const put = (store: MemoryStore, s: Shard) => store.put(keys.shard(s.id), JSON.stringify(s))

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
    await admin.commit({compares: [], puts: [{key: keys.shard(1), value: JSON.stringify(shard(1, 2, {lo: 0, hi: 50}))}, {key: keys.shard(2), value: JSON.stringify(shard(2, 1, {lo: 50, hi: 100}))}]})

    const late = view.refresh(1) // sees the parent's new range, so re-reads the whole map
    await vi.waitFor(() => expect(view.table().shard(1)?.range.hi).toBe(50))
    gate.release()
    await early
    await late

    expect(view.table().shardForHash(75)?.id).toBe(2)
  })
})
