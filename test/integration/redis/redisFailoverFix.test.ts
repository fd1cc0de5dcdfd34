import {describe, expect, it} from 'vitest'
import {fixOpenSlots} from '../../../src/redis/fixOpenSlots.js'
import {FAST_FAILURE_DETECTION, openSlotMarks, redisAvailable, servedSlots} from '../../support/redisCluster.js'
import {useRedisCluster} from '../../support/redisTestFile.js'
import {countAt, failoverSeenBy, nodesSeenBy, openSlotByHand, poll, replicaOf, slotServedBy, writeTagged} from '../../support/redisFailover.js'

/**
 * `redis fix` after Redis failed a master over in the middle of a slot migration, on a real
 * 3+3 cluster. Redis 7.0 does not replicate MIGRATING/IMPORTING marks: the replica that takes
 * over a failed master serves its slots without them, while the other side still names the
 * failed node. The migration here is done by hand (what redis-cli or a killed executor
 * leaves), so what the client sees before the fix is Redis's own behaviour:
 * - the source failed: the migrated keys are on the target only and the new source answers
 *   for the slot without ASK, so clients read them as missing;
 * - the target failed: the source sends clients to the dead target with ASK.
 * `redis fix` must finish the slot towards the side holding the migrated keys, so that every
 * key reads its value again. Before resolveOpenSlotSides it refused both ("open towards a node
 * that is not a live master"), and the only way out it named (SETSLOT by hand) lost the keys.
 * Each test kills a different master; replication is awaited before each kill so that the
 * loss measured is not async replication's own.
 */

const available = await redisAvailable()
const file = useRedisCluster('redis-failover-fix', available, {serverArgs: FAST_FAILURE_DETECTION})

interface Server {
  address: string
  kill(): void
}

/** liveAddresses are the addresses of the file's servers not killed yet. */
function liveAddresses(): string[] {
  return file.redis.servers.filter((s) => s.child.exitCode === null && s.child.signalCode === null).map((s) => s.address)
}

function serverAt(address: string): Server {
  const s = file.redis.servers.find((x) => x.address === address)
  if (!s) throw new Error(`no server at ${address}`)
  return {address, kill: () => s.child.kill('SIGKILL')}
}

/** successorServing waits until a live master other than `except`, not `dead`, serves `slot` by its own view (the failover happened) and returns its address. */
async function successorServing(slot: number, dead: string, except: string): Promise<string> {
  return poll(`a new master serving slot ${slot}`, async () => {
    for (const s of file.redis.servers) {
      if (s.address === dead || s.address === except) continue
      const me = (await nodesSeenBy(s.address)).find((n) => n.flags.includes('myself'))
      if (me?.flags.includes('master') && me.slots.includes(slot)) return s.address
    }
    return undefined
  })
}

/** promoted waits until `replica` (of a master just killed) is a master by its own view and returns its address. */
async function promoted(replica: string): Promise<string> {
  return poll(`${replica} to become a master`, async () => ((await nodesSeenBy(replica)).find((n) => n.flags.includes('myself'))?.flags.includes('master') ? replica : undefined))
}

async function readAll(keys: readonly string[]): Promise<(string | null)[]> {
  return Promise.all(keys.map((k) => file.client.get(k).catch(() => 'error')))
}

describe.skipIf(!available)('redis fix after a master failed over mid-migration', () => {
  it('finishes a slot whose source failed over: the migrated keys, unserved until then, read their values again', async () => {
    const [src, dst] = [file.masters[0]!, file.masters[1]!]
    const {tag, slot} = await slotServedBy(src)
    const keys = await writeTagged(file.client, tag, 200)
    await openSlotByHand(src, dst, slot, 120, {awaitReplicas: true})
    expect(await countAt(dst.address, slot)).toBe(120)

    serverAt(src.address).kill()
    const successor = await successorServing(slot, src.address, dst.address)
    await failoverSeenBy(liveAddresses(), src.redisId, successor)
    // Redis's own state now: the new master serves the slot without the MIGRATING mark, so the 120 migrated keys read as missing.
    const before = await poll('the client to follow the failover', async () => {
      const values = await readAll(keys)
      return values.includes('error') ? undefined : values
    })
    expect(before.filter((v) => v === null)).toHaveLength(120)

    const seed = dst.address
    const dry = await fixOpenSlots(seed, true)
    expect(dry.slots).toEqual([expect.objectContaining({slot, action: 'finish', target: dst.node, failed: src.node, targetKeys: 120, sourceKeys: 80})])
    const done = await fixOpenSlots(seed, false)
    expect(done.slots).toEqual([expect.objectContaining({slot, action: 'finish', keysMoved: 80})])
    expect((await servedSlots(dst)).has(slot)).toBe(true)
    expect(await countAt(successor, slot)).toBe(0)
    expect(await poll('every key to read its value', async () => {
      const values = await readAll(keys)
      return values.every((v, i) => v === `${keys[i]}=1`) ? values : undefined
    }, 30_000)).toHaveLength(200)
    expect(await openSlotMarks(file.masters.filter((m) => m !== src).concat({node: 'successor', redisId: '', address: successor}))).toEqual([])
    expect((await fixOpenSlots(seed, false)).slots).toEqual([])
  }, 120_000)

  it('finishes a slot whose target failed over: the keys its replica kept, and the rest, end on the new target', async () => {
    // The first test killed masters[0]; these two still have their replicas.
    const [src, dst] = [file.masters[2]!, file.masters[1]!]
    const {tag, slot} = await slotServedBy(src, 't')
    const keys = await writeTagged(file.client, tag, 200)
    await openSlotByHand(src, dst, slot, 120, {awaitReplicas: true})
    const replica = await replicaOf(dst)

    serverAt(dst.address).kill()
    const successor = await promoted(replica)
    await failoverSeenBy(liveAddresses(), dst.redisId, successor)
    expect(await countAt(successor, slot)).toBe(120)

    const dry = await fixOpenSlots(src.address, true)
    expect(dry.slots).toEqual([expect.objectContaining({slot, action: 'finish', source: src.node, failed: dst.node, targetKeys: 120, sourceKeys: 80})])
    const done = await fixOpenSlots(src.address, false)
    expect(done.slots).toEqual([expect.objectContaining({slot, action: 'finish', keysMoved: 80})])
    expect(await countAt(successor, slot)).toBe(200)
    expect(await poll('every key to read its value', async () => {
      const values = await readAll(keys)
      return values.every((v, i) => v === `${keys[i]}=1`) ? values : undefined
    }, 30_000)).toHaveLength(200)
    expect((await fixOpenSlots(src.address, false)).slots).toEqual([])
  }, 120_000)
})
