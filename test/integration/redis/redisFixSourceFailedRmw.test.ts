import {describe, expect, it} from 'vitest'
import {fixOpenSlots} from '../../../src/redis/fixOpenSlots.js'
import {redisAvailable, servedSlots, tagsInSlots} from '../../support/redisCluster.js'
import {useRedisCluster} from '../../support/redisTestFile.js'
import {openSlotByHand, poll} from '../../support/redisFailover.js'

/**
 * Review (s18, review-a): the source of an open slot fails over; its promoted replica serves
 * the slot without the MIGRATING mark, so a write to a key already migrated to the target
 * creates a second, fresh copy on the successor (HSET of another field, INCR, SADD, SETNX all
 * succeed there and are acknowledged). `redis fix` then finishes the slot with MIGRATE ...
 * REPLACE (bad452a), so the successor's copy replaces the target's: the field written before
 * the failover (acknowledged by the target's predecessor, kept by the target) is gone.
 * Expected: no acknowledged field is lost, or fix refuses naming the key that exists on both
 * sides (MIGRATE without REPLACE answers BUSYKEY for it) for the operator to merge.
 */

const available = await redisAvailable()
const file = useRedisCluster('redis-fix-source-rmw', available)



describe.skipIf(!available)('redis fix after the source failed over, with a migrated hash written on its successor', () => {
  it('keeps the field the target held', async () => {
    const [src, dst] = [file.masters[0]!, file.masters[1]!]
    const mine = [...(await servedSlots(src))]
    const [{tag, slot}] = tagsInSlots(mine[0]!, mine[mine.length - 1]! + 1, 1, 'h') as [{tag: string; slot: number}]
    const key = `{${tag}}:user`
    await file.client.hset(key, 'name', 'ada')
    // Open the slot by hand and migrate the hash (what a killed executor or redis-cli leaves).
    await openSlotByHand(src, dst, slot, 1, {awaitReplicas: true}) // the slot's one key: the hash
    file.redis.servers.find((s) => s.address === src.address)!.child.kill('SIGKILL')
    // The client follows the failover to the successor, which serves the slot without ASK: the hash reads as missing there, and HSET creates a fresh one.
    // Any answer means the successor took it (the target answers MOVED without ASKING, the old
    // source is dead); not `=== 1`: an HSET that landed but whose reply was lost makes every
    // later one answer 0 (the field exists), which waited out the poll.
    await poll('the client to reach the successor', async () => ((await file.client.hset(key, 'age', '36')) >= 0 ? true : undefined))
    const fixed = await fixOpenSlots(dst.address, false).catch((e: unknown) => e)
    if (fixed instanceof Error) return // a refusal naming the key is acceptable
    const hash = await poll('the hash to read', async () => file.client.hgetall(key))
    expect(hash, `fix: ${JSON.stringify(fixed)}`).toEqual({name: 'ada', age: '36'})
  }, 120_000)
})
