import {afterEach, describe, expect, it} from 'vitest'
import {formatHlc} from '../../src/model/hlc.js'
import {compareRecords} from '../../src/node/lwwMerge.js'
import {type NodeRecord} from '../../src/node/protocol.js'
import {repairShards} from '../../src/repair/repairService.js'
import {copyNodeWorld} from '../support/copyNodeWorld.js'
import {keyIn} from '../support/nodeTestData.js'
import {oneShardCluster} from '../support/oneShardCluster.js'

/**
 * Session 33: a gc floor drops repair values below it only for a window after its fence
 * (StorageEngine.withoutFenced), so a purge must not rely on it past that window:
 * repairShards purges only when every fence answered within half of every replica's window
 * (fenceTooSlow). The race it closes, on real nodes and the real anti-entropy: the
 * replicas converged (a delete D on Z only, below the cutoff, counts as absent), the round
 * fences Y, and X's fence is slow. Meanwhile X takes the value V that D deleted (a late
 * read repair), Y's window ends and a read repair brings V to Y, and X then takes D: X's
 * fence digest leaves V out (D is newer), Y's was taken before V came, Z holds D. The
 * fence digests are equal, but Y holds V: a purge of D now would leave a read quorum of X
 * and Y returning V, the deleted value back (checked: without fenceTooSlow this test
 * fails so). With a window longer than the slow fence, Y drops V instead.
 */

const TOKEN = 'fence-window-token-0123456789'
const GRACE_MS = 2_000
const OFFSET_MS = 20

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

let closing: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const c of closing.reverse()) await c()
  closing = []
})

/** story runs the race with `screenMs` as every node's window; X's fence waits 1.1 s after Y's before V goes to Y. */
async function story(screenMs: number) {
  const cluster = await oneShardCluster('fence-window', 3, 3, TOKEN)
  const {ctx, shard} = cluster
  const [x, y, z] = shard.replicas.map((r) => r.node) as [string, string, string]
  const world = copyNodeWorld({cluster, token: TOKEN, thread: false, maxClockOffsetMs: OFFSET_MS, dirPrefix: 'shardctl-fence-window-', closing, fenceScreenMs: screenMs})
  for (const id of [x, y, z]) await world.start(id, GRACE_MS)
  const node = world.node
  const key = keyIn(shard.range.lo, shard.range.hi, 'fw-')
  const wall = Date.now()
  const value: NodeRecord = {key, version: formatHlc({wall, counter: 0, writer: 'router'}), value: Buffer.from('deleted value')}
  const deleteIt: NodeRecord = {key, version: formatHlc({wall, counter: 1, writer: 'router'}), value: null}
  await node(z).client.apply(shard.id, shard.epoch, [deleteIt], 'write')
  await sleep(GRACE_MS + 4 * OFFSET_MS + 100)

  // X's fence is slow; what happens meanwhile (late read repairs, as a router sends them).
  const xEngine = node(x).engine
  const fenceBelow = xEngine.fenceBelow.bind(xEngine)
  let yTook = false
  xEngine.fenceBelow = async (range, before, format) => {
    await node(x).client.apply(shard.id, shard.epoch, [value], 'repair')
    for (let i = 0; i < 400 && node(y).engine.fenceOf(shard.range) === 0; i++) await sleep(5)
    await sleep(1_100)
    yTook = (await node(y).client.apply(shard.id, shard.epoch, [value], 'repair')).applied > 0
    await node(x).client.apply(shard.id, shard.epoch, [deleteIt], 'repair')
    return fenceBelow(range, before, format)
  }
  const round = (await repairShards(ctx, {shard: shard.id, rounds: 2, purge: true, maxClockOffsetMs: OFFSET_MS, timeoutMs: 20_000})).shards[0]!
  xEngine.fenceBelow = fenceBelow
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
  return {round, next, yTook, reads}
}

describe('a gc fence slower than the repair screen window', {timeout: 60_000}, () => {
  it('Given a round whose fence on X outlasts the window of Y\'s, while V (which a delete on Z deleted) comes to X, then to Y once its window is over, and X then takes the delete, When the fence digests compare equal, Then the round does not purge, and no read quorum returns V', async () => {
    const r = await story(1_000)
    expect(r.yTook).toBe(true)
    expect(r.round.converged).toBe(true)
    // The guarantee first (without fenceTooSlow the purge ran, the next round spread V, and every read returned it).
    expect(r.reads.filter((x) => x === 'deleted value')).toEqual([])
    expect(r.round.gc).toMatch(/the fences took \d+ ms, not under half of the 1000 ms/)
    expect(r.round.purged).toBe(0)
  })

  it('Given the same race with a window longer than the slow fence, Then Y drops V (below its floor, inside the window), the round purges the delete, and no read quorum returns V', async () => {
    const r = await story(60_000)
    expect(r.yTook).toBe(false)
    expect(r.round.gc).toBeUndefined()
    expect(r.round.purged).toBeGreaterThan(0)
    expect(r.reads.filter((x) => x === 'deleted value')).toEqual([])
  })
})
