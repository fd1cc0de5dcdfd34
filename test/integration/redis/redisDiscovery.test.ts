import {describe, expect, it} from 'vitest'
import {listNodes, listShards, getMeta} from '../../../src/cluster/clusterRepo.js'
import {readSnapshot} from '../../../src/cluster/snapshotService.js'
import {clusterStatus} from '../../../src/cluster/clusterStatus.js'
import {listNodeViews} from '../../../src/cluster/nodeService.js'
import {initRedisCluster} from '../../../src/redis/initRedisCluster.js'
import {SLOT_COUNT, slotsOfRange} from '../../../src/redis/slotMap.js'
import {redisAvailable} from '../../support/redisCluster.js'
import {useRedisCluster} from '../../support/redisTestFile.js'

const available = await redisAvailable()
const file = useRedisCluster('redis-disc', available)

describe.skipIf(!available)('redis engine: discovery and load on a real Redis Cluster', () => {
  it('records masters as nodes and every slot in exactly one shard, and measures keys, bytes and ops per shard', async () => {
    const {ctx, redis, client} = file
    // Skew: 3000 keys in one hash tag (one slot), 600 spread; values of two sizes.
    await Promise.all(Array.from({length: 600}, (_, i) => client.set(`spread:${i}`, 'x'.repeat(100))))
    await Promise.all(Array.from({length: 3000}, (_, i) => client.set(`{hot}:${i}`, 'y'.repeat(1000))))
    const result = await initRedisCluster(ctx, {seed: redis.seed, slotsPerShard: 256, force: false})
    expect(result.nodes).toHaveLength(3)
    const meta = await getMeta(ctx)
    expect(meta.value).toMatchObject({engine: 'redis', redisSeed: redis.seed, rf: 1})
    const {shards} = await listShards(ctx)
    const nodes = await listNodes(ctx)
    const covered = new Array<number>(SLOT_COUNT).fill(0)
    for (const s of shards) {
      const {first, end} = slotsOfRange(s.value.range)
      expect(end - first).toBeLessThanOrEqual(256)
      for (let slot = first; slot < end; slot++) covered[slot]!++
    }
    expect(covered.every((c) => c === 1)).toBe(true)

    // Drive some reads on the hot keys while the snapshot samples ops.
    let stop = false
    const reader = (async () => {
      for (let n = 0; n < 20_000 && !stop; n++) await client.get(`{hot}:${n % 3000}`)
    })()
    const snap = await readSnapshot(ctx)
    stop = true
    await reader
    expect(snap.loadSource?.signals.ops).toBe('commandstats-by-key-share')
    expect(snap.nodes.every((n) => n.alive)).toBe(true)
    const totalKeys = snap.load.reduce((a, l) => a + l.keys, 0)
    expect(totalKeys).toBe(3600)
    const hotSlot = Number(await client.call('CLUSTER', 'KEYSLOT', '{hot}'))
    const hotShard = shards.find((s) => {
      const r = slotsOfRange(s.value.range)
      return hotSlot >= r.first && hotSlot < r.end
    })!.value
    const hotLoad = snap.load.find((l) => l.shard === hotShard.id)!
    expect(hotLoad.node).toBe(hotShard.replicas[0]!.node)
    expect(hotLoad.keys).toBeGreaterThanOrEqual(3000)
    // 1000-byte values take more memory per key than 100-byte ones.
    expect(hotLoad.bytes / hotLoad.keys).toBeGreaterThan(1000)
    // The hot shard's master served the reads: its shard got most of them.
    const hotNodeReads = snap.load.filter((l) => l.node === hotLoad.node).reduce((a, l) => a + l.reads, 0)
    expect(hotLoad.reads).toBeGreaterThan(0)
    expect(hotLoad.reads / hotNodeReads).toBeGreaterThan(0.8)
    expect(nodes.map((n) => n.value.address).sort()).toEqual(snap.nodes.map((n) => n.address).sort())
    // Liveness of redis masters is a PING, not a lease: status and node list show them up, and a stopped one down.
    expect((await listNodeViews(ctx)).every((n) => n.alive)).toBe(true)
    const victim = redis.servers.find((s) => s.address === nodes[0]!.value.address)!
    victim.child.kill('SIGSTOP')
    try {
      const status = await clusterStatus(ctx)
      expect(status.nodes.filter((n) => !n.alive).map((n) => n.id)).toEqual([nodes[0]!.value.id])
    } finally {
      victim.child.kill('SIGCONT')
    }
  }, 120_000)

  it('refuses a second init without --force and a seed that is not a redis node', async () => {
    const {ctx, redis} = file
    await expect(initRedisCluster(ctx, {seed: redis.seed, slotsPerShard: 128, force: false})).rejects.toMatchObject({code: 'ALREADY_EXISTS'})
    await expect(initRedisCluster(ctx, {seed: 'not-an-address', slotsPerShard: 128, force: true})).rejects.toMatchObject({code: 'BAD_INPUT'})
  })
})
