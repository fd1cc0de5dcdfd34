import {afterEach, describe, expect, it, vi} from 'vitest'
import {makeServiceContext} from '../../src/cluster/serviceContext.js'
import {keysOf} from '../../src/etcd/keys.js'
import {type Replica, type Shard} from '../../src/model/shard.js'
import {NodeShardView} from '../../src/node/shardMapFollower.js'
import {MemoryStore} from '../../src/store/memoryStore.js'

const keys = keysOf('c')
const shard = (id: number, epoch: number, replicas: Replica[]): Shard => ({id, range: {lo: id * 10, hi: id * 10 + 10}, epoch, replicas})
const voter = (node: string): Replica => ({node, role: 'voter'})
const put = (store: MemoryStore, s: Shard) => store.put(keys.shard(s.id), JSON.stringify(s))
const heldOf = (view: NodeShardView) => view.held().map(({shard: s, role}) => `${s.id}@${s.epoch}:${role}`)

const open: {store: MemoryStore; view: NodeShardView}[] = []
afterEach(async () => {
  for (const o of open.splice(0)) {
    await o.view.stop()
    o.store.close()
  }
})

async function viewOf(node: string, seed: Shard[]) {
  const store = new MemoryStore()
  const admin = store.connect()
  for (const s of seed) await put(admin, s)
  const view = new NodeShardView(makeServiceContext(store, {cluster: 'c'}), node)
  open.push({store, view}, {store: admin, view})
  await view.start()
  return {admin, view}
}

describe('NodeShardView.held', () => {
  it('Given the map changes by watch events and by refresh, Then every held() after the change lists it (the kept list never goes stale)', async () => {
    const {admin, view} = await viewOf('a', [shard(3, 1, [voter('a')]), shard(1, 1, [voter('b')]), shard(2, 1, [voter('b'), voter('a')])])
    expect(heldOf(view)).toEqual(['2@1:voter', '3@1:voter'])
    // A shard handed to this node, one taken away, one whose role changes: by the watch.
    await put(admin, shard(1, 2, [voter('b'), {node: 'a', role: 'joining'}]))
    await put(admin, shard(3, 2, [voter('b')]))
    await vi.waitFor(() => expect(heldOf(view)).toEqual(['1@2:joining', '2@1:voter']))
    await put(admin, shard(1, 3, [voter('a')]))
    await vi.waitFor(() => expect(heldOf(view)).toEqual(['1@3:voter', '2@1:voter']))
    // A newer epoch read by refresh (before its watch event could arrive) shows at once.
    await put(admin, shard(2, 2, [voter('b')]))
    await view.refresh(2)
    expect(heldOf(view)).toEqual(['1@3:voter'])
  })

  it('Given a held shard deleted, When the delete is seen by refresh (before or after its watch event), Then the next held() no longer lists it, and a re-list keeps it gone', async () => {
    const {admin, view} = await viewOf('a', [shard(1, 1, [voter('a')]), shard(2, 1, [voter('a')])])
    expect(heldOf(view)).toEqual(['1@1:voter', '2@1:voter'])
    await admin.delete(keys.shard(2))
    // Whichever of the watch and this read folds the delete in first, the kept list must go.
    expect(await view.refresh(2)).toBeUndefined()
    expect(heldOf(view)).toEqual(['1@1:voter'])
    // A re-list (as after a lapsed lease) that also brings a change the node missed.
    await put(admin, shard(1, 2, [{node: 'a', role: 'outgoing'}, voter('b')]))
    await view.start()
    expect(heldOf(view)).toEqual(['1@2:outgoing'])
  })

  it('Given a caller that changes the array it got, Then the next held() is unaffected, and the entries themselves cannot be changed', async () => {
    const {view} = await viewOf('a', [shard(1, 1, [voter('a')]), shard(2, 1, [voter('a')])])
    const first = view.held()
    first.pop()
    first.reverse()
    expect(heldOf(view)).toEqual(['1@1:voter', '2@1:voter'])
    expect(() => Object.assign(view.held()[0] ?? {}, {role: 'outgoing'})).toThrow(TypeError)
  })
})
