import {setTimeout as sleepFor} from 'node:timers/promises'
import {describe, expect, it} from 'vitest'
import {fixOpenSlots} from '../../../src/redis/fixOpenSlots.js'
import {withRedisNode} from '../../../src/redis/redisConnection.js'
import {openSlotMarks, ownerOf, redisAvailable} from '../../support/redisCluster.js'
import {useRedisCluster} from '../../support/redisTestFile.js'
import {countAt, slotServedBy} from '../../support/redisFailover.js'

/**
 * Hunt (s21, redishunt): can `MIGRATE ... REPLACE` carry an older copy from the source over a
 * newer value the target took through ASK? A client reaches the target for a key only when the
 * source does not hold it, so the one way for the source to hold an older copy afterwards is a
 * key that has expired there but was not reclaimed yet (active expiry off, the key never read):
 * 1. k is written on the source with a 200 ms TTL; the slot is opened (IMPORTING, MIGRATING);
 * 2. k expires on the source but stays in its keyspace (DEBUG SET-ACTIVE-EXPIRE 0);
 * 3. a client SETs k (no TTL): the source answers ASK (k is expired: missing), the target takes it;
 * 4. `redis fix` finishes the slot: GETKEYSINSLOT on the source may still list k, and MIGRATE
 *    ... REPLACE would overwrite the target's k with the expired copy (and its TTL).
 * Expected (and found on Redis 7.0): MIGRATE skips a key that has expired, so k keeps the
 * client's value with no TTL. It would fail if the runner or fix copied keys itself (DUMP/RESTORE
 * with a TTL of 0, say) without looking at their expiry.
 */

const available = await redisAvailable()
const file = useRedisCluster('redis-expired-replace', available, {masters: 3, replicasPerMaster: 0, serverArgs: ['--enable-debug-command', 'yes']})

describe.skipIf(!available)('an expired key on the source and a newer one on the target through ASK', () => {
  it('keeps the value the target took when the slot is finished', async () => {
    const [src, dst] = [file.masters[0]!, file.masters[1]!]
    const {tag, slot} = await slotServedBy(src, 'x')
    const k = `{${tag}}:k`
    const others = [`{${tag}}:a`, `{${tag}}:b`]
    await withRedisNode(src.address, (r) => r.call('DEBUG', 'SET-ACTIVE-EXPIRE', '0'))
    try {
      expect(await file.client.set(k, 'old', 'PX', 200)).toBe('OK')
      for (const o of others) expect(await file.client.set(o, `${o}=1`)).toBe('OK')
      await withRedisNode(dst.address, (r) => r.call('CLUSTER', 'SETSLOT', String(slot), 'IMPORTING', src.redisId))
      await withRedisNode(src.address, (r) => r.call('CLUSTER', 'SETSLOT', String(slot), 'MIGRATING', dst.redisId))
      await sleepFor(400)
      // Still in the source's keyspace, though expired (3 keys counted).
      expect(await countAt(src.address, slot)).toBe(3)
      expect(await file.client.set(k, 'new')).toBe('OK')
      expect(await countAt(dst.address, slot)).toBe(1)

      const result = await fixOpenSlots(src.address, false)
      expect(result.slots).toEqual([expect.objectContaining({slot, action: 'finish'})])
    } finally {
      await withRedisNode(src.address, (r) => r.call('DEBUG', 'SET-ACTIVE-EXPIRE', '1'))
    }
    expect(await openSlotMarks(file.masters)).toEqual([])
    expect(await ownerOf(file.masters, slot)).toBe(dst.node)
    expect(await countAt(src.address, slot)).toBe(0)
    expect(await file.client.get(k)).toBe('new')
    expect(await file.client.pttl(k)).toBe(-1)
    expect(await Promise.all(others.map((o) => file.client.get(o)))).toEqual(others.map((o) => `${o}=1`))
  }, 60_000)
})
