import {describe, expect, it} from 'vitest'
import {fixOpenSlots} from '../../../src/redis/fixOpenSlots.js'
import {FAST_FAILURE_DETECTION, redisAvailable} from '../../support/redisCluster.js'
import {useRedisCluster} from '../../support/redisTestFile.js'
import {countAt, nodesSeenBy, openSlotByHand, poll, slotServedBy} from '../../support/redisFailover.js'
import {withRedisNode} from '../../../src/redis/redisConnection.js'

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
const file = useRedisCluster('redis-fix-source-rmw', available, {serverArgs: FAST_FAILURE_DETECTION})



describe.skipIf(!available)('redis fix after the source failed over, with a migrated hash written on its successor', () => {
  it('keeps the field the target held', async (ctx) => {
    const [src, dst] = [file.masters[0]!, file.masters[1]!]
    const {tag, slot} = await slotServedBy(src, 'h')
    const key = `{${tag}}:user`
    await file.client.hset(key, 'name', 'ada')
    // Open the slot by hand and migrate the hash (what a killed executor or redis-cli leaves).
    await openSlotByHand(src, dst, slot, 1, {awaitReplicas: true}) // the slot's one key: the hash
    file.redis.servers.find((s) => s.address === src.address)!.child.kill('SIGKILL')
    // The replica that takes over serves the slot without ASK: the hash is missing there, and
    // an HSET on it creates a fresh one, acknowledged. Written on the successor itself (found by
    // its own view), not through the cluster client, which stayed on the dead source for over
    // 60 s under CI's load (twice).
    // The fault is Redis's own failover; when it does not come in time (a starved machine: seen
    // once beside the chaos suite) the test could not set it up, and says so instead of failing.
    const successor = await poll(`a new master serving slot ${slot}`, async () => {
      for (const s of file.redis.servers) {
        if (s.address === src.address || s.address === dst.address) continue
        const me = (await nodesSeenBy(s.address)).find((n) => n.flags.includes('myself'))
        if (me?.flags.includes('master') && me.slots.includes(slot)) return s.address
      }
      return undefined
    }).catch(() => undefined)
    if (successor === undefined) return ctx.skip(`Redis did not fail the source over within 60 s: the fault could not be set up`)
    expect(await withRedisNode(successor, (r) => r.hset(key, 'age', '36'))).toBe(1)
    const fixed = await fixOpenSlots(dst.address, false).catch((e: unknown) => e)
    if (fixed instanceof Error) {
      // A refusal is a safe answer (the key on both sides, or a cluster not settled yet: seen in
      // CI) when it changed nothing: the target still holds its copy. (Its content cannot be
      // read here: the target answers CLUSTERDOWN while its IMPORTING mark names the dead source.)
      expect(fixed, String(fixed)).toMatchObject({code: 'PRECONDITION'})
      expect(await countAt(dst.address, slot)).toBe(1)
      return
    }
    // Finished: the slot is the target's; read the hash there.
    const hash = await poll('the hash to read', async () => withRedisNode(dst.address, (r) => r.hgetall(key)))
    expect(hash, `fix: ${JSON.stringify(fixed)}`).toEqual({name: 'ada', age: '36'})
  }, 120_000)
})
