import {afterAll, beforeAll, describe, expect, it, vi} from 'vitest'
import {makeServiceContext} from '../../../src/cluster/serviceContext.js'
import {ShardMapFollower} from '../../../src/cluster/shardMapFollower.js'
import {type EtcdStore} from '../../../src/etcd/etcdStore.js'
import {keysOf} from '../../../src/etcd/keys.js'
import {HASH_NAME} from '../../../src/model/hash.js'
import {type Shard} from '../../../src/model/shard.js'
import {startPrivateEtcd, type PrivateEtcd} from '../../support/privateEtcd.js'
import {StoreSet, uniqueCluster} from '../../support/testStore.js'

/**
 * A follower starting on a real etcd that compacts the revision its listing is pinned to
 * before the listing's last part is read (what the shared test etcd saw when rawRange's test
 * compacted it during followerStartUnderWrites' start-up, and what auto-compaction can do
 * during a node's seconds-long start at 100k shards). A private etcd: this file compacts.
 */
const stores = new StoreSet()
const cluster = uniqueCluster('followcompact')
const keys = keysOf(cluster)
let etcd: PrivateEtcd
let reader: EtcdStore
let writer: EtcdStore
const shard = (id: number, epoch: number): Shard => ({id, range: {lo: id * 10, hi: id * 10 + 10}, epoch, replicas: [{node: 'n1', role: 'voter'}]})

beforeAll(async () => {
  etcd = await startPrivateEtcd()
  reader = stores.open(etcd.endpoint, cluster)
  writer = stores.open(etcd.endpoint, cluster)
  // nextShardId 30,000 cuts the listing into three parts: [0, 10000), [10000, 20000), [20000, ...).
  await writer.put(keys.meta, JSON.stringify({version: 1, name: cluster, rf: 1, hash: HASH_NAME, createdAt: new Date(0).toISOString(), nextShardId: 30_000}))
  for (const id of [1, 15_000, 25_000]) await writer.put(keys.shard(id), JSON.stringify(shard(id, 1)))
})
afterAll(async () => {
  stores.closeAll()
  await etcd?.dispose()
})

describe('ShardMapFollower start-up on a real etcd compacting meanwhile', () => {
  it('Given a write and a compaction past the listing revision before the last part is read, Then start lists again, has the write, and follows on', async () => {
    let bumped = 0n
    const listPage = reader.listPage.bind(reader)
    vi.spyOn(reader, 'listPage').mockImplementation(async (prefix, query) => {
      if (query.from === keys.shard(20_000) && bumped === 0n) {
        bumped = await writer.put(keys.shard(25_000), JSON.stringify(shard(25_000, 2)))
        await writer.compact(bumped)
      }
      return listPage(prefix, query)
    })
    const follower = new ShardMapFollower(makeServiceContext(reader, {cluster}))
    try {
      await follower.start()

      expect(bumped).toBeGreaterThan(0n)
      expect(Object.fromEntries(follower.all().map((s) => [s.id, s.epoch]))).toEqual({1: 1, 15000: 1, 25000: 2})
      expect(follower.mapRevision()).toBeGreaterThanOrEqual(bumped)
      const after = await writer.put(keys.shard(1), JSON.stringify(shard(1, 2)))
      await expect.poll(() => follower.get(1)?.epoch, {timeout: 20_000}).toBe(2)
      expect(follower.mapRevision()).toBe(after)
    } finally {
      await follower.stop()
    }
  })
})
