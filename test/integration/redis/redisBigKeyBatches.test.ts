import {describe, expect, it} from 'vitest'
import {type ExecutorEvent} from '../../../src/executor/executorEnv.js'
import {fixOpenSlots} from '../../../src/redis/fixOpenSlots.js'
import {withRedisNode} from '../../../src/redis/redisConnection.js'
import {changingCommandsSent, sentSince} from '../../support/redisCommandStats.js'
import {openSlotMarks, redisAvailable, servedSlots, tagsInSlots} from '../../support/redisCluster.js'
import {RedisWorkload} from '../../support/redisWorkload.js'
import {inProcessApplyOf, useRedisCluster} from '../../support/redisTestFile.js'

/**
 * Keys near and over the big-key limit, written by clients while their slots move. One MIGRATE
 * blocks both masters for as long as it serializes, sends and loads its keys; the big-key limit
 * is the most an operator lets one key cost. Before, the first batch of every slot was sized
 * before any key size was known (up to --batch-keys keys, whatever their size): a slot of keys
 * just under the limit went in one MIGRATE of many times the limit (here 24 keys of about
 * 100 KiB under a 256 KiB limit: about 2.4 MiB in one MIGRATE; at the default 8 MiB limit and
 * 100 keys, 800 MiB, which outlasts MIGRATE's timeout and failed the same way on every retry).
 * Now a batch carries at most the limit in all, its keys' measured sizes, unless it is one key
 * (a key above the limit, moved with --allow-big-keys, goes alone). Every acknowledged write,
 * big values included, reads back.
 */

const LIMIT = 256 * 1024
const available = await redisAvailable()
const file = useRedisCluster('redis-big-key-batches', available, {masters: 3, replicasPerMaster: 0, slotsPerShard: 16})
const apply = inProcessApplyOf(file)

describe.skipIf(!available)('big keys migrated under client writes', () => {
  it('no MIGRATE carries more than the big-key limit unless it is one key; every acknowledged write reads back', async () => {
    const {shard, from, to, first, end} = await file.shardToMove(1)
    const [near, over, small] = tagsInSlots(first, end, 3, 'bk')
    const big = 'b'.repeat(100 * 1024)
    const nearKeys = Array.from({length: 24}, (_, j) => `{${near!.tag}}:${j}`)
    const overKey = `{${over!.tag}}:huge`
    const smallKeys = Array.from({length: 40}, (_, j) => `{${small!.tag}}:${j}`)
    for (const k of nearKeys) await file.client.set(k, `${k}=0${big}`)
    await file.client.set(overKey, `${overKey}=0${'h'.repeat(600 * 1024)}`)
    await Promise.all(smallKeys.map((k) => file.client.set(k, `${k}=0`)))
    await file.recordPendingMove('big-keys', shard, from, to)
    // Writers keep half the near-limit keys big, and the small ones changing, throughout.
    const bigWork = new RedisWorkload(file.client, nearKeys.slice(0, 12), 2, 400, big)
    const smallWork = new RedisWorkload(file.client, smallKeys, 2, 4000)
    const events: ExecutorEvent[] = []
    try {
      const result = await apply({redis: {bigKeyBytes: LIMIT, allowBigKeys: true}, emit: (e) => events.push(e)})
      expect(result.moves.find((m) => m.id === 'big-keys')?.phase).toBe('done')
    } finally {
      await bigWork.stop()
      await smallWork.stop()
    }
    // Each progress event is one MIGRATE: the difference from the one before is its keys and bytes.
    const progress = events.flatMap((e) => (e.type === 'progress' && e.move === 'big-keys' ? [e] : []))
    const batches = progress.map((e, i) => ({keys: e.keys - (progress[i - 1]?.keys ?? 0), bytes: e.bytes - (progress[i - 1]?.bytes ?? 0)}))
    expect(batches.filter((b) => b.keys > 1 && b.bytes > LIMIT)).toEqual([])
    expect(batches.some((b) => b.keys === 1 && b.bytes > LIMIT)).toBe(true) // the key over the limit, alone
    expect(await openSlotMarks(file.masters)).toEqual([])
    const served = await servedSlots(to)
    expect(Array.from({length: end - first}, (_, i) => first + i).filter((s) => !served.has(s))).toEqual([])
    expect(await bigWork.lost(file.client)).toEqual([])
    expect(await smallWork.lost(file.client)).toEqual([])
    for (const k of nearKeys.slice(12).filter((k) => !bigWork.last.has(k))) expect(await file.client.get(k)).toBe(`${k}=0${big}`)
    expect((await file.client.get(overKey))?.length).toBe(`${overKey}=0`.length + 600 * 1024)
  }, 60_000)

  it('redis fix finishing a slot of big keys sends at most 8 MiB (the default big-key limit) per MIGRATE, unless one key', async () => {
    // Shard 2, another master's: the first test moved shard 1's slots to its target.
    const {from, to, first, end} = await file.shardToMove(2)
    const {tag, slot} = tagsInSlots(first, end, 1, 'fixbig')[0]!
    const value = 'f'.repeat(400 * 1024)
    const keys = Array.from({length: 30}, (_, j) => `{${tag}}:${j}`) // 12 MiB in all
    for (const k of keys) await file.client.set(k, `${k}=${value}`)
    // Left open by hand with nothing migrated yet, keys on the source only: fix finishes it (the source owns it, IMPORTING on the target).
    await withRedisNode(to.address, (r) => r.call('CLUSTER', 'SETSLOT', String(slot), 'IMPORTING', from.redisId))
    await withRedisNode(from.address, (r) => r.call('CLUSTER', 'SETSLOT', String(slot), 'MIGRATING', to.redisId))
    await withRedisNode(from.address, (r) => r.call('MIGRATE', to.address.split(':')[0]!, to.address.split(':')[1]!, '', '0', '5000', 'KEYS', keys[0]!))
    const before = await changingCommandsSent([from.address])

    const result = await fixOpenSlots(file.redis.seed, false)

    expect(result.slots.find((x) => x.slot === slot)?.action).toBe('finish')
    const migrates = sentSince(before, await changingCommandsSent([from.address])).find((l) => l.includes(' migrate '))
    // 29 keys of 400 KiB left: at most 20 per 8 MiB MIGRATE, so 2 batches (before: 1 of 11.6 MiB).
    expect(Number(migrates?.split('+')[1])).toBeGreaterThanOrEqual(2)
    expect(await openSlotMarks(file.masters)).toEqual([])
    for (const k of keys) expect(await file.client.get(k)).toBe(`${k}=${value}`)
  }, 60_000)
})
