import {describe, expect, it} from 'vitest'
import {formatHlc} from '../../src/model/hlc.js'
import {compareRecords} from '../../src/node/lwwMerge.js'
import {type NodeRecord} from '../../src/node/protocol.js'
import {repairShards} from '../../src/repair/repairService.js'
import {closedAfterEach, copyNodeWorld} from '../support/copyNodeWorld.js'
import {keyIn} from '../support/nodeTestData.js'
import {oneShardCluster} from '../support/oneShardCluster.js'

/**
 * Session 33: a gc fence is pending until its round confirms it (StorageEngine.fencePending,
 * confirmFence), and the replica refuses nothing meanwhile; a fence is held only while the
 * replica gains no value older than its cutoff, and a round purges only once every
 * replica confirmed a held fence. The race that needs it, on real nodes and the real
 * anti-entropy: the replicas converged (a delete D on Z only, below the cutoff, counts as
 * absent), the round fences Y, and X's fence is slow. Meanwhile X takes the value V that D
 * deleted (a late read repair), a late read repair brings V to Y, and X then takes D: X's
 * fence digest leaves V out (D is newer), Y's was taken before V came, Z holds D. The fence
 * digests are equal, but Y holds V: a purge of D now would leave a read quorum of X and Y
 * returning V, the deleted value back (checked: when Y's fence stays held whatever it
 * gains, Y confirms, D is purged and this test fails so: two of the three read quorums
 * return V).
 */

const TOKEN = 'fence-window-token-0123456789'
const GRACE_MS = 2_000
const OFFSET_MS = 20

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

const closing = closedAfterEach()

async function story() {
  const cluster = await oneShardCluster('fence-confirm', 3, 3, TOKEN)
  const {ctx, shard} = cluster
  const [x, y, z] = shard.replicas.map((r) => r.node) as [string, string, string]
  const world = copyNodeWorld({cluster, token: TOKEN, thread: false, maxClockOffsetMs: OFFSET_MS, dirPrefix: 'shardctl-fence-confirm-', closing})
  for (const id of [x, y, z]) await world.start(id, GRACE_MS)
  const node = world.node
  const key = keyIn(shard.range.lo, shard.range.hi, 'fc-')
  const wall = Date.now()
  const value: NodeRecord = {key, version: formatHlc({wall, counter: 0, writer: 'router'}), value: Buffer.from('deleted value')}
  const deleteIt: NodeRecord = {key, version: formatHlc({wall, counter: 1, writer: 'router'}), value: null}
  await node(z).client.apply(shard.id, shard.epoch, [deleteIt], 'write')
  await sleep(GRACE_MS + 4 * OFFSET_MS + 100)

  // X's fence is slow; what happens meanwhile (late read repairs, as a router sends them).
  const xEngine = node(x).engine
  const fencePending = xEngine.fencePending.bind(xEngine)
  let yTook = false
  xEngine.fencePending = async (range, before, format) => {
    await node(x).client.apply(shard.id, shard.epoch, [value], 'repair')
    for (let i = 0; i < 400 && node(y).engine.pendingFencesOf(shard.range).length === 0; i++) await sleep(5)
    yTook = (await node(y).client.apply(shard.id, shard.epoch, [value], 'repair')).applied > 0
    await node(x).client.apply(shard.id, shard.epoch, [deleteIt], 'repair')
    return fencePending(range, before, format)
  }
  const round = (await repairShards(ctx, {shard: shard.id, rounds: 2, purge: true, maxClockOffsetMs: OFFSET_MS, timeoutMs: 20_000})).shards[0]!
  xEngine.fencePending = fencePending
  const floors = [x, y, z].map((id) => node(id).engine.fenceOf(shard.range))
  const next = (await repairShards(ctx, {shard: shard.id, rounds: 2, purge: true, maxClockOffsetMs: OFFSET_MS, timeoutMs: 20_000})).shards[0]!
  // What every read quorum (two of the three) returns for the key.
  const held = [x, y, z].map((id) => node(id).engine.get(key))
  const reads: string[] = []
  for (let a = 0; a < 3; a++) {
    for (let b = a + 1; b < 3; b++) {
      const p = held[a]
      const q = held[b]
      const read = !p ? q : !q ? p : compareRecords(p, q) >= 0 ? p : q
      reads.push(read === undefined ? 'nothing' : read.value === null ? 'tombstone' : read.value.toString())
    }
  }
  return {round, floors, next, yTook, reads}
}

describe('a value older than the cutoff that reaches a replica between its gc fence and its confirm', {timeout: 60_000}, () => {
  it('Given a round whose fence on X is slow, while V (which a delete on Z deleted) comes to X, then to Y after Y fenced, and X then takes the delete, When the fence digests compare equal, Then Y refuses to confirm, nothing is purged and no floor raised, no read quorum returns V, and the next round repairs the delete to Y and purges it', async () => {
    const r = await story()
    expect(r.yTook).toBe(true)
    expect(r.round.converged).toBe(true)
    // The guarantee first.
    expect(r.reads.filter((x) => x === 'deleted value')).toEqual([])
    expect(r.round.gc).toMatch(/fence was not held to its confirm/)
    expect(r.round.purged).toBe(0)
    // X and Z confirmed (their floors stand: harmless, below them every replica agreed); Y did not.
    expect(r.floors[1]).toBe(0)
    expect(r.next.converged).toBe(true)
    expect(r.next.purged).toBeGreaterThan(0)
  })
})

describe('gc across builds', {timeout: 60_000}, () => {
  it('Given a replica of an older build (its fence sets its floor at once and carries no fence id) among two of this build, When anti-entropy purges, Then it confirms the two pending fences only and purges on all three, each with its floor at the cutoff', async () => {
    const cluster = await oneShardCluster('fence-builds', 3, 3, TOKEN)
    const {ctx, shard} = cluster
    const ids = shard.replicas.map((r) => r.node)
    const world = copyNodeWorld({cluster, token: TOKEN, thread: false, maxClockOffsetMs: OFFSET_MS, dirPrefix: 'shardctl-fence-builds-', closing})
    for (const id of ids) await world.start(id, GRACE_MS)
    const old = world.node(ids[0]!).engine
    const fenceBelow = old.fenceBelow.bind(old)
    old.fencePending = async (range, before, format) => ({fence: undefined as unknown as number, digest: await fenceBelow(range, before, format)})
    const deleted: NodeRecord = {key: keyIn(shard.range.lo, shard.range.hi, 'fb-'), version: formatHlc({wall: Date.now(), counter: 0, writer: 'router'}), value: null}
    for (const id of ids) await world.node(id).client.apply(shard.id, shard.epoch, [deleted], 'write')
    await sleep(GRACE_MS + 4 * OFFSET_MS + 100)
    const round = (await repairShards(ctx, {shard: shard.id, rounds: 2, purge: true, maxClockOffsetMs: OFFSET_MS, timeoutMs: 20_000})).shards[0]!
    expect(round.gc).toBeUndefined()
    expect(round.purged).toBe(3)
    expect(ids.map((id) => world.node(id).engine.fenceOf(shard.range))).toEqual([round.tombstonesBefore, round.tombstonesBefore, round.tombstonesBefore])
    expect(ids.map((id) => world.node(id).engine.pendingFencesOf(shard.range))).toEqual([[], [], []])
  })
})
