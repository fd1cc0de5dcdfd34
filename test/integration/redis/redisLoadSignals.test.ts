import {describe, expect, it} from 'vitest'
import {listShards} from '../../../src/cluster/clusterRepo.js'
import {readSnapshot} from '../../../src/cluster/snapshotService.js'
import {isLiveMaster, shortNodeId} from '../../../src/redis/clusterNodes.js'
import {discoverTopology} from '../../../src/redis/discovery.js'
import {initRedisCluster} from '../../../src/redis/initRedisCluster.js'
import {keySlot} from '../../../src/redis/keySlot.js'
import {connectRedisNode} from '../../../src/redis/redisConnection.js'
import {slotsOfRange} from '../../../src/redis/slotMap.js'
import {redisAvailable} from '../../support/redisCluster.js'
import {useRedisCluster} from '../../support/redisTestFile.js'

/**
 * The LFU load signal on real redis-server 7.0 (which has no CLUSTER SLOT-STATS): one master
 * runs with maxmemory-policy allkeys-lfu, the others with the default. Two shards of the LFU
 * master hold the same number of keys, but only one is read; key share would split that
 * master's ops evenly between them, OBJECT FREQ sampling must give the read one nearly all.
 * The snapshot names the signal per master.
 */

const available = await redisAvailable()
const file = useRedisCluster('redis-lfu', available, {masters: 3, replicasPerMaster: 0})

describe.skipIf(!available)('redis engine: per-master ops signal on real redis-server', () => {
  it('splits an LFU master’s ops by sampled OBJECT FREQ and names the signal per master', async () => {
    const {ctx, redis, client} = file
    const topo = await discoverTopology(redis.seed)
    const lfuMaster = topo.masters.filter(isLiveMaster)[0]
    if (!lfuMaster) throw new Error('no live master')
    const admin = await connectRedisNode(lfuMaster.address)
    try {
      await admin.call('CONFIG', 'SET', 'maxmemory-policy', 'allkeys-lfu')
      // Two hash tags on the LFU master, in different 16-slot shards.
      const tags: {tag: string; slot: number}[] = []
      for (let i = 0; tags.length < 2 && i < 20_000; i++) {
        const slot = keySlot(`t${i}`)
        if (lfuMaster.slots.includes(slot) && tags.every((t) => Math.floor(t.slot / 16) !== Math.floor(slot / 16))) tags.push({tag: `t${i}`, slot})
      }
      const [hot, cold] = tags
      if (!hot || !cold) throw new Error('no two tags found on the LFU master')
      for (const t of [hot, cold]) await Promise.all(Array.from({length: 500}, (_, j) => client.set(`{${t.tag}}:${j}`, 'v'.repeat(50))))
      // Reads on the hot tag only, bounded: 60 passes over its 500 keys.
      for (let pass = 0; pass < 60; pass++) await Promise.all(Array.from({length: 500}, (_, j) => client.get(`{${hot.tag}}:${j}`)))

      await initRedisCluster(ctx, {seed: redis.seed, slotsPerShard: 16, force: false})
      const {shards} = await listShards(ctx)
      const shardOf = (slot: number) => shards.find((s) => slot >= slotsOfRange(s.value.range).first && slot < slotsOfRange(s.value.range).end)?.value.id
      // A bounded trickle of reads on both tags while the snapshot measures ops (1 s window).
      let stop = false
      const reader = (async () => {
        for (let n = 0; n < 50_000 && !stop; n++) await client.get(`{${n % 2 === 0 ? hot.tag : cold.tag}}:${n % 500}`)
      })()
      const snap = await readSnapshot(ctx)
      stop = true
      await reader

      const lfuId = shortNodeId(lfuMaster.id)
      expect(snap.loadSource?.opsByNode?.[lfuId]).toBe('lfu-object-freq')
      for (const m of topo.masters.filter(isLiveMaster)) if (m.id !== lfuMaster.id) expect(snap.loadSource?.opsByNode?.[shortNodeId(m.id)]).toBe('key-share')
      expect(snap.loadSource?.signals.ops).toBe('commandstats-by-mixed')
      const hotLoad = snap.load.find((l) => l.shard === shardOf(hot.slot))
      const coldLoad = snap.load.find((l) => l.shard === shardOf(cold.slot))
      expect(hotLoad?.keys).toBe(500)
      expect(coldLoad?.keys).toBe(500)
      // Equal keys, so key share would give both the same; the LFU counters tell them apart.
      expect(hotLoad?.reads ?? 0).toBeGreaterThan(5 * (coldLoad?.reads ?? Infinity))
    } finally {
      admin.disconnect()
    }
  }, 120_000)
})
