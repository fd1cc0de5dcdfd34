import {afterAll, beforeAll, describe, expect, inject, it} from 'vitest'
import {makeServiceContext} from '../../../src/cluster/serviceContext.js'
import {ShardMapFollower} from '../../../src/cluster/shardMapFollower.js'
import {type EtcdStore, MAX_TXN_OPS} from '../../../src/etcd/etcdStore.js'
import {keysOf} from '../../../src/etcd/keys.js'
import {HASH_NAME} from '../../../src/model/hash.js'
import {type Shard} from '../../../src/model/shard.js'
import {StoreSet, uniqueCluster} from '../../support/testStore.js'

/**
 * A follower (what every node and router loads at start-up) reading a map of 25,000 shards
 * in three parts from a real etcd while a writer keeps bumping epochs: it must expose
 * nothing until the whole map is in, then all of it, and converge to exactly etcd's map.
 */
const COUNT = 25_000
const MAX_BUMPS = 400
const stores = new StoreSet()
const cluster = uniqueCluster('followstart')
const keys = keysOf(cluster)
let reader: EtcdStore
let writer: EtcdStore
const shard = (id: number, epoch: number): Shard => ({id, range: {lo: id * 100, hi: id * 100 + 100}, epoch, replicas: [{node: `n${id % 12}`, role: 'voter'}, {node: `n${(id + 1) % 12}`, role: 'voter'}]})

beforeAll(async () => {
  reader = stores.open(inject('etcdEndpoint'), cluster)
  writer = stores.open(inject('etcdEndpoint'), cluster)
  await writer.put(keys.meta, JSON.stringify({version: 1, name: cluster, rf: 2, hash: HASH_NAME, createdAt: new Date(0).toISOString(), nextShardId: COUNT}))
  const batches: number[][] = []
  for (let i = 0; i < COUNT; i += MAX_TXN_OPS) batches.push(Array.from({length: Math.min(MAX_TXN_OPS, COUNT - i)}, (_, j) => i + j))
  let next = 0
  const worker = async () => {
    while (next < batches.length) {
      const batch = batches[next++] ?? []
      await writer.commit({compares: [], puts: batch.map((id) => ({key: keys.shard(id), value: JSON.stringify(shard(id, 1))}))})
    }
  }
  await Promise.all(Array.from({length: 4}, worker))
}, 120_000)
afterAll(() => stores.closeAll())

describe('ShardMapFollower start-up on a real etcd under writes', () => {
  it('Given epochs bumped in every part while it starts, Then it shows no shard until all are in, then all, and converges to the written epochs', async () => {
    const follower = new ShardMapFollower(makeServiceContext(reader, {cluster}))
    const written = new Map<number, number>()
    let lastRevision = 0n
    let starting = true
    // The writer bumps shards spread over the three parts (ids 0..24,999) until the follower is up, at most MAX_BUMPS times.
    const bumps = (async () => {
      for (let i = 0; i < MAX_BUMPS && starting; i++) {
        const id = (i * 7919) % COUNT
        const epoch = (written.get(id) ?? 1) + 1
        lastRevision = await writer.put(keys.shard(id), JSON.stringify(shard(id, epoch)))
        written.set(id, epoch)
      }
    })()
    // Sampled between every other task while it starts: a partial map would show a size other than 0 or COUNT.
    const sizes = new Set<number>()
    const sampler = (async () => {
      while (starting) {
        sizes.add(follower.all().length)
        await new Promise((r) => setImmediate(r))
      }
    })()
    try {
      await follower.start()
      starting = false
      await Promise.all([bumps, sampler])
      expect([...sizes].filter((n) => n !== 0 && n !== COUNT)).toEqual([])
      expect(follower.all()).toHaveLength(COUNT)
      expect(written.size).toBeGreaterThan(0) // the writer did race the start-up
      await expect.poll(() => follower.mapRevision() >= lastRevision, {timeout: 10_000}).toBe(true)
      for (const s of follower.all()) expect(s.epoch, `shard ${s.id}`).toBe(written.get(s.id) ?? 1)
    } finally {
      starting = false
      await follower.stop()
    }
  }, 60_000)
})
