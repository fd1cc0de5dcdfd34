import {describe, expect, it} from 'vitest'
import {fixOpenSlots} from '../../../src/redis/fixOpenSlots.js'
import {FAST_FAILURE_DETECTION, redisAvailable} from '../../support/redisCluster.js'
import {useRedisCluster} from '../../support/redisTestFile.js'
import {nodesSeenBy, openSlotByHand, poll, slotServedBy, writeTagged} from '../../support/redisFailover.js'

/**
 * Review (s18, review-a): `redis fix` while the IMPORTING side of an open slot is down and
 * flagged `fail` but NOT replaced (no replica took over: none exists, the election is still
 * running, cluster-replica-no-failover, or the target is just restarting). discoverTopology
 * drops `fail` masters, so resolveOpenSlotSides sees the target as "failed over", finds no
 * live master holding keys of the slot and answers {target: null}: fix rolls the slot back on
 * the source alone. The keys already migrated are on the down target only; once it returns,
 * the source serves the slot without ASK and they read as missing (acknowledged writes lost).
 * Before bad452a fix refused this slot ("open towards a node that is not a live master").
 * Expected: refuse (or otherwise leave every key readable once the target is back).
 */

const available = await redisAvailable()
const file = useRedisCluster('redis-fix-target-down', available, {masters: 3, replicasPerMaster: 0, serverArgs: FAST_FAILURE_DETECTION})



describe.skipIf(!available)('redis fix with the importing master down and not replaced', () => {
  it('does not roll the slot back onto the source while the down target holds the migrated keys', async () => {
    const [src, dst] = [file.masters[0]!, file.masters[1]!]
    const {tag, slot} = await slotServedBy(src, 'd')
    const keys = await writeTagged(file.client, tag, 200)
    await openSlotByHand(src, dst, slot, 120)

    const child = file.redis.servers.find((s) => s.address === dst.address)!.child
    child.kill('SIGSTOP')
    let fixed: unknown
    try {
      await poll('the source to flag the target fail', async () => ((await nodesSeenBy(src.address)).find((n) => n.id === dst.redisId)?.flags.includes('fail') ? true : undefined))
      const dry = await fixOpenSlots(src.address, true).catch((e: unknown) => e)
      console.log('dry run:', JSON.stringify(dry))
      fixed = await fixOpenSlots(src.address, false).catch((e: unknown) => e)
      console.log('fix:', JSON.stringify(fixed instanceof Error ? fixed.message : fixed))
    } finally {
      child.kill('SIGCONT')
    }
    await poll('the target to rejoin', async () => ((await nodesSeenBy(src.address)).find((n) => n.id === dst.redisId)?.flags.includes('fail') ? undefined : true))
    const values = await poll('the cluster to answer', async () => {
      const v = await Promise.all(keys.map((k) => file.client.get(k).catch(() => 'error')))
      return v.includes('error') ? undefined : v
    })
    const missing = keys.filter((k, i) => values[i] !== `${k}=1`)
    expect(missing, `fix result: ${JSON.stringify(fixed instanceof Error ? fixed.message : fixed)}`).toEqual([])
  }, 120_000)
})
