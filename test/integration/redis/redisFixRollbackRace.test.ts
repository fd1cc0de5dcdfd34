import {describe, expect, it, vi} from 'vitest'
import {fixOpenSlots} from '../../../src/redis/fixOpenSlots.js'
import {withRedisNode} from '../../../src/redis/redisConnection.js'
import {type MasterConn} from '../../../src/redis/slotOps.js'
import {openSlotMarks, ownerOf, redisAvailable} from '../../support/redisCluster.js'
import {useRedisCluster} from '../../support/redisTestFile.js'
import {countAt, slotServedBy, writeTagged} from '../../support/redisFailover.js'

/**
 * Hunt (s21, redishunt): `redis fix` rolling back a slot left open with no key on the target
 * while a client writes a NEW key of that slot. fix counts the keys on each side (target: 0),
 * decides `rollback`, then clears the marks (SETSLOT STABLE on the target, then the source).
 * Between the count and the target's STABLE, a cluster client writing a key the source does not
 * hold is sent by the source with ASK to the target, which takes it (IMPORTING) and answers OK.
 * Once the marks are cleared the source serves the slot and the target's copy is unreachable:
 * an acknowledged write lost (it reads as missing, and stays orphaned on the target).
 *
 * The interleaving is driven exactly: stableSlot is wrapped so that, just before the real
 * `SETSLOT STABLE` reaches the target, the test's own ioredis cluster client writes the new key
 * (a real write through ASK on real redis-server processes); nothing of Redis is faked.
 */

let beforeStable: ((m: MasterConn, slot: number) => Promise<void>) | undefined
vi.mock(import('../../../src/redis/slotOps.js'), async (importOriginal) => {
  const real = await importOriginal()
  return {
    ...real,
    stableSlot: async (m: MasterConn, slot: number) => {
      await beforeStable?.(m, slot)
      return real.stableSlot(m, slot)
    },
  }
})

const available = await redisAvailable()
const file = useRedisCluster('redis-fix-rollback-race', available, {masters: 3, replicasPerMaster: 0})

describe.skipIf(!available)('redis fix rolling back a slot while a client writes a new key of it', () => {
  it('keeps the key written to the target through ASK after the count readable', async () => {
    const [src, dst] = [file.masters[0]!, file.masters[1]!]
    const {tag, slot} = await slotServedBy(src, 'rb')
    const old = await writeTagged(file.client, tag, 20)
    // Left open with nothing migrated (an executor killed between IMPORTING/MIGRATING and its first MIGRATE).
    await withRedisNode(dst.address, (r) => r.call('CLUSTER', 'SETSLOT', String(slot), 'IMPORTING', src.redisId))
    await withRedisNode(src.address, (r) => r.call('CLUSTER', 'SETSLOT', String(slot), 'MIGRATING', dst.redisId))

    const fresh = `{${tag}}:new`
    let written = false
    beforeStable = async (m, s) => {
      if (written || s !== slot || m.redisId !== dst.redisId) return
      written = true
      // The source does not hold it: ASK to the target, which is still IMPORTING and takes it.
      expect(await file.client.set(fresh, 'acked')).toBe('OK')
      expect(await countAt(dst.address, slot)).toBe(1)
    }
    let result: Awaited<ReturnType<typeof fixOpenSlots>>
    try {
      result = await fixOpenSlots(src.address, false)
    } finally {
      beforeStable = undefined
    }
    expect(written).toBe(true)
    // Decided on the count (rollback), closed as what the recount found: the target holds a key, so finished.
    expect(result.slots).toEqual([expect.objectContaining({slot, action: 'finish', targetKeys: 1, keysMoved: old.length})])

    expect(await openSlotMarks(file.masters)).toEqual([])
    const owner = await ownerOf(file.masters, slot)
    const nonOwner = [src, dst].find((m) => m.node !== owner)!
    // No key of the slot left on a master that does not serve it (unreachable), every acknowledged write readable.
    expect(await countAt(nonOwner.address, slot)).toBe(0)
    expect(await file.client.get(fresh)).toBe('acked')
    expect(await Promise.all(old.map((k) => file.client.get(k)))).toEqual(old.map((k) => `${k}=1`))
  }, 60_000)

  it('still rolls back when no write reached the target', async () => {
    const [src, dst] = [file.masters[0]!, file.masters[2]!]
    const {tag, slot} = await slotServedBy(src, 'rc')
    const old = await writeTagged(file.client, tag, 20)
    await withRedisNode(dst.address, (r) => r.call('CLUSTER', 'SETSLOT', String(slot), 'IMPORTING', src.redisId))
    await withRedisNode(src.address, (r) => r.call('CLUSTER', 'SETSLOT', String(slot), 'MIGRATING', dst.redisId))
    const result = await fixOpenSlots(src.address, false)
    expect(result.slots).toEqual([expect.objectContaining({slot, action: 'rollback', targetKeys: 0, keysMoved: 0})])
    expect(await openSlotMarks(file.masters)).toEqual([])
    expect(await ownerOf(file.masters, slot)).toBe(src.node)
    expect(await Promise.all(old.map((k) => file.client.get(k)))).toEqual(old.map((k) => `${k}=1`))
  }, 60_000)
})
