import {describe, expect, it} from 'vitest'
import {formatHlc} from '../../src/model/hlc.js'
import {lowerWriteFloor, newWriteFloor} from '../../src/model/writeFloor.js'
import {type NodeRecord} from '../../src/node/protocol.js'
import {repairShards} from '../../src/repair/repairService.js'
import {keyIn} from '../support/nodeTestData.js'
import {closedAfterEach, copyNodeWorld} from '../support/copyNodeWorld.js'
import {oneShardCluster} from '../support/oneShardCluster.js'

/**
 * Session 40 (huntkeep): a move in `aborting` or `rb-cutover` keeps its destination's copy outside the shard's map while
 * it may be the only one up of an acknowledged write (w = 1: a write acked by the source and the destination alone, the
 * source down or back on a replaced, empty dir), and the executor repairs the shard's voters from it before dropping it
 * (src/executor/keptCopyRepair.ts). The shard's replicas are all voters again meanwhile, so anti-entropy purged its
 * tombstones: the fence raised every voter's gc floor above that write's version, and the repair's apply then dropped
 * it as a value below the floor (withoutFenced: "its delete was purged"). The copy was dropped next: the write lost,
 * the move ended as if nothing was. A purge must wait while a move keeps a copy of the shard outside its map.
 */

const TOKEN = 'kept-copy-purge-token-0123456789'
const GRACE_MS = 1_000
const OFFSET_MS = 20

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const closing = closedAfterEach()

/** Floor is the cluster's write floor a case sets: the quorum of a router that ran (1, or null for a majority); undefined leaves a new cluster's floor. */
type Floor = number | null | undefined

/**
 * purgeWorld starts a one-shard rf 3 cluster `name` with its three voters up (n1 the move's source, n2 and n3 the staying
 * voters; n4, the move's destination, never started), sets the write floor, and has every voter hold `deleted`: a
 * delete a purge has something to do with. Returns the world, the delete and `moveThenRepair`, which records move m1
 * of the shard from n1 to n4 in `phase`, waits out the tombstone grace and runs one repair with purge, reporting the shard.
 */
async function purgeWorld(name: string, floor: Floor) {
  const cluster = await oneShardCluster(name, 3, 3, TOKEN)
  const {store, ctx, shard} = cluster
  const world = copyNodeWorld({cluster, token: TOKEN, thread: false, maxClockOffsetMs: OFFSET_MS, dirPrefix: 'shardctl-kept-purge-', closing})
  for (const id of ['n1', 'n2', 'n3']) await world.start(id, GRACE_MS)
  const now = new Date().toISOString()
  if (floor !== undefined) await store.put(ctx.keys.writeFloor, JSON.stringify(lowerWriteFloor(newWriteFloor(now), floor, 'r1', now)))
  const wall = Date.now()
  // Sent as repairs: a loaded machine may take longer than the 1 s grace between the version and a write apply.
  const deleted: NodeRecord = {key: keyIn(shard.range.lo, shard.range.hi, 'kp-d-'), version: formatHlc({wall, counter: 0, writer: 'router'}), value: null}
  for (const id of ['n1', 'n2', 'n3']) await world.node(id).client.apply(shard.id, shard.epoch, [deleted], 'repair')
  const moveThenRepair = async (phase: string) => {
    await store.put(ctx.keys.move('m1'), JSON.stringify({id: 'm1', shard: shard.id, from: 'n1', to: 'n4', phase}))
    await sleep(GRACE_MS + 4 * OFFSET_MS + 60)
    return (await repairShards(ctx, {shard: shard.id, rounds: 2, purge: true, maxClockOffsetMs: OFFSET_MS, timeoutMs: 10_000})).shards[0]!
  }
  return {shard, world, wall, moveThenRepair}
}

describe("anti-entropy on a shard whose destination's copy a move keeps outside its map", {timeout: 30_000}, () => {
  for (const phase of ['aborting', 'rb-cutover'] as const) {
    it(`(${phase}) purges nothing, so the voters take what the kept copy gives them however old`, async () => {
      // n1 is the source, back on a replaced, empty dir; n2 and n3 the staying voters; n4 the destination that left the shard.
      // A router ran with --w 1 (it lowered the cluster's write floor): a write may be on the source and the destination alone.
      const {shard, world, wall, moveThenRepair} = await purgeWorld(`kept-purge-${phase}`, 1)
      // The write acked by n1 and n4 alone (w = 1).
      const acked: NodeRecord = {key: keyIn(shard.range.lo, shard.range.hi, 'kp-w-'), version: formatHlc({wall, counter: 1, writer: 'router'}), value: Buffer.from('acked by n1 and n4 alone')}
      const report = await moveThenRepair(phase)
      expect(report.converged).toBe(true)
      expect(report.purged).toBe(0)
      expect(report.gc).toContain('m1')
      // The repair from the kept copy (what keptCopyRepair sends a voter that lacks the record).
      for (const id of ['n1', 'n2', 'n3']) await world.node(id).client.apply(shard.id, shard.epoch, [acked], 'repair')
      for (const id of ['n1', 'n2', 'n3']) expect(world.node(id).engine.get(acked.key)?.value?.toString(), id).toBe('acked by n1 and n4 alone')
    })
  }

  it('purges as before while the move waits in aborting when no router ever wrote with a quorum of 1 (every write the source took is on another voter: the copy is never repaired from)', async () => {
    // A move whose destination went down mid-copy waits in aborting to drop its partial copy (the chaos suite's
    // "aborted move leftovers" scenario): until the purge looked at the write quorums, its tombstones were held for ever.
    const report = await (await purgeWorld('kept-purge-majority', null)).moveThenRepair('aborting')
    expect(report.gc).toBeUndefined()
    expect(report.purged).toBe(3)
  })

  it('purges as before once the move is finished', async () => {
    const report = await (await purgeWorld('kept-purge-done', undefined)).moveThenRepair('aborted')
    expect(report.gc).toBeUndefined()
    expect(report.purged).toBe(3)
  })
})
