import {describe, expect, it} from 'vitest'
import {listShards} from '../../../src/cluster/clusterRepo.js'
import {fixOpenSlots} from '../../../src/redis/fixOpenSlots.js'
import {withRedisNode} from '../../../src/redis/redisConnection.js'
import {crashAndRestart, openSlotMarks, ownerOf, redisAvailable, tagsInSlots} from '../../support/redisCluster.js'
import {countAt, poll} from '../../support/redisFailover.js'
import {inProcessApplyOf, useRedisCluster} from '../../support/redisTestFile.js'

/**
 * A master that gave a slot away (a move of shardctl finished) and then restarts from an RDB
 * snapshot taken while it still owned the slot: Redis loads the snapshot's keys of the slot and,
 * finding keys of a slot another master serves, marks it IMPORTING from that master
 * (verifyClusterConfigWithData). `cluster status` then shows a slot open, and `redis fix` saw
 * "keys on the importing side" and finished it: the owner's keys went to the restarted master
 * and the slot with them, the snapshot's copies of keys deleted since came back, and the slot
 * left the master etcd records. No migration opened that slot (its owner marks no MIGRATING), so
 * fix must not take the importing side's keys for migrated ones: it refuses, naming the keys and
 * the ways out, and changes nothing.
 */

const available = await redisAvailable()
const file = useRedisCluster('redis-stale-import', available, {masters: 3, replicasPerMaster: 0, slotsPerShard: 16})
const apply = inProcessApplyOf(file)

describe.skipIf(!available)('a master restarted from a snapshot older than a move that took its slot', () => {
  it('redis fix refuses to finish the slots its restart marked IMPORTING: nothing deleted comes back, the slots stay; the way out it names works', async () => {
    const {shard, from, to, first, end} = await file.shardToMove(1)
    // Two slots: in the first the owner rewrites some keys and deletes some after the move, in the second it deletes every key (fix then saw no key on the owner at all).
    const [a, b] = tagsInSlots(first, end, 2, 'si')
    const keysA = Array.from({length: 20}, (_, j) => `{${a!.tag}}:${j}`)
    const keysB = Array.from({length: 8}, (_, j) => `{${b!.tag}}:${j}`)
    for (const k of [...keysA, ...keysB]) expect(await file.client.set(k, `${k}=1`)).toBe('OK')
    await withRedisNode(from.address, (r) => r.call('SAVE'))
    await file.recordPendingMove('stale-import', shard, from, to)
    expect((await apply()).moves.find((m) => m.id === 'stale-import')?.phase).toBe('done')
    for (const k of keysA.slice(0, 10)) expect(await file.client.set(k, `${k}=2`)).toBe('OK')
    expect(await file.client.del(...keysA.slice(10, 15))).toBe(5)
    for (const k of keysB) expect(await file.client.del(k)).toBe(1)
    await crashAndRestart(file.redis, from.address)
    await poll('the restarted master to hold its snapshot\'s keys', async () => ((await countAt(from.address, a!.slot)) === 20 && (await countAt(from.address, b!.slot)) === 8 ? true : undefined), 20_000)
    expect(await openSlotMarks(file.masters)).toEqual(expect.arrayContaining([{slot: a!.slot, node: from.node, state: 'importing'}, {slot: b!.slot, node: from.node, state: 'importing'}]))
    const check = async (): Promise<void> => {
      expect(await ownerOf(file.masters, a!.slot)).toBe(to.node)
      expect(await ownerOf(file.masters, b!.slot)).toBe(to.node)
      for (const [j, k] of keysA.entries()) expect(await file.client.get(k), k).toBe(j < 10 ? `${k}=2` : j < 15 ? null : `${k}=1`)
      for (const k of keysB) expect(await file.client.get(k), k).toBeNull()
    }

    for (const {slot, n} of [{slot: a!.slot, n: 20}, {slot: b!.slot, n: 8}]) {
      for (const dryRun of [true, false]) {
        const refused = await fixOpenSlots(file.redis.seed, dryRun).catch((err: Error) => err)
        expect(refused, `dry run ${dryRun}: ${JSON.stringify(refused)}`).toBeInstanceOf(Error)
        expect((refused as Error).message).toMatch(new RegExp(`^slot ${slot}: ${from.node} imports it from ${to.node}, which is not migrating it .* holds ${n} key\\(s\\)`))
        await check()
      }
      // The way out the refusal names for a snapshot's copies: DEL them on the restarted master (after ASKING: it does not serve the slot), then SETSLOT STABLE there.
      await withRedisNode(from.address, async (r) => {
        for (const k of (await r.call('CLUSTER', 'GETKEYSINSLOT', String(slot), '1000')) as string[]) {
          await r.call('ASKING')
          expect(await r.del(k)).toBe(1)
        }
        await r.call('CLUSTER', 'SETSLOT', String(slot), 'STABLE')
      })
    }
    expect((await fixOpenSlots(file.redis.seed, false)).slots).toEqual([])
    expect(await openSlotMarks(file.masters)).toEqual([])
    await check()
  }, 60_000)

  it('a move back onto the restarted master refuses the slots whose snapshot keys it holds, instead of resurrecting them', async () => {
    // Shard 2: the first test moved shard 1 and cleaned up after itself.
    const {shard, from, to, first, end} = await file.shardToMove(2)
    // One slot where the owner keeps some keys (migrated slot by slot), one where it deletes all (moved in a run of empty slots).
    const [a, b] = tagsInSlots(first, end, 2, 'sb')
    const keysA = Array.from({length: 10}, (_, j) => `{${a!.tag}}:${j}`)
    const keysB = Array.from({length: 6}, (_, j) => `{${b!.tag}}:${j}`)
    for (const k of [...keysA, ...keysB]) expect(await file.client.set(k, `${k}=1`)).toBe('OK')
    await withRedisNode(from.address, (r) => r.call('SAVE'))
    await file.recordPendingMove('stale-out', shard, from, to)
    expect((await apply()).moves.find((m) => m.id === 'stale-out')?.phase).toBe('done')
    expect(await file.client.del(...keysA.slice(0, 5))).toBe(5)
    for (const k of keysB) expect(await file.client.del(k)).toBe(1)
    await crashAndRestart(file.redis, from.address)
    await poll('the restarted master to hold its snapshot\'s keys', async () => ((await countAt(from.address, a!.slot)) === 10 && (await countAt(from.address, b!.slot)) === 6 ? true : undefined), 20_000)
    // A later plan moves the shard back (plan checks only who serves each slot, which did not change).
    const moved = (await listShards(file.ctx)).shards.find((x) => x.value.id === shard.id)!.value
    await file.recordPendingMove('stale-back', moved, to, from)

    const result = await apply({sleepCapMs: 100})

    const back = result.moves.find((m) => m.id === 'stale-back')!
    expect(back.phase).toBe('failed')
    expect(back.reason).toMatch(new RegExp(`${from.node} holds \\d+ key\\(s\\) of slot (${a!.slot}|${b!.slot}), which ${to.node} serves and is not migrating`))
    // Nothing deleted came back, nothing was lost.
    for (const [j, k] of keysA.entries()) expect(await file.client.get(k), k).toBe(j < 5 ? null : `${k}=1`)
    for (const k of keysB) expect(await file.client.get(k), k).toBeNull()
    // Clean up for the file: the snapshot's copies deleted, marks cleared.
    for (const slot of [a!.slot, b!.slot]) {
      await withRedisNode(from.address, async (r) => {
        for (const k of (await r.call('CLUSTER', 'GETKEYSINSLOT', String(slot), '1000')) as string[]) {
          await r.call('ASKING')
          await r.del(k)
        }
        await r.call('CLUSTER', 'SETSLOT', String(slot), 'STABLE')
      })
    }
  }, 90_000)
})
