import {describe, expect, it} from 'vitest'
import {formatHlc} from '../../src/model/hlc.js'
import {type Shard} from '../../src/model/shard.js'
import {type NodeRecord} from '../../src/node/protocol.js'
import {repairShards} from '../../src/repair/repairService.js'
import {settledPull} from '../support/copyShard.js'
import {keyIn} from '../support/nodeTestData.js'
import {closedAfterEach, copyNodeWorld} from '../support/copyNodeWorld.js'
import {oneShardCluster} from '../support/oneShardCluster.js'

/**
 * Adversarial companion of moveGcFloor.inProcess.test.ts (review of the adopted floor's
 * deletion). With the moved replica down and w = 2, the destination copies from the two
 * other old voters, B then C, each stream from the range's beginning: so C's stream adopts
 * its floor WITH the deletion, over everything B's stream brought. The deletion may take
 * only what no quorum acknowledged (a late write of a purged delete's value), never:
 * - a write acknowledged on the moved replica and B only (C missed it), which C's stream
 *   does not bring back;
 * - a write acknowledged on the moved replica and C only;
 * - a live value older than the floor, which both sources hold (B's stream brings it, C's
 *   deletion removes it, C's stream must bring it back).
 * Real nodes, real stream headers, both receive paths.
 */

const TOKEN = 'move-gc-floor-sources-token-0123'
const GRACE_MS = 1_000
const OFFSET_MS = 20
const LONG_GRACE_MS = 3_600_000

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

const closing = closedAfterEach()

async function story(thread: boolean) {
  const cluster = await oneShardCluster('move-gc-floor-sources', 3, 4, TOKEN)
  const {store, ctx, shard} = cluster
  const [moved, b, c] = shard.replicas.map((r) => r.node) as [string, string, string]
  const joiner = ['n1', 'n2', 'n3', 'n4'].find((n) => ![moved, b, c].includes(n))!
  const world = copyNodeWorld({cluster, token: TOKEN, thread, maxClockOffsetMs: OFFSET_MS, dirPrefix: 'shardctl-move-gc-floor-sources-', closing})
  const {maps, nodes} = world
  const start = world.start
  const stops = new Map<string, () => Promise<void>>()
  for (const id of [moved, b, c]) stops.set(id, (await start(id, GRACE_MS)).close)
  const node = (id: string) => nodes.get(id)!
  const put = async (on: readonly string[], r: NodeRecord) => {
    for (const id of on) await node(id).client.apply(shard.id, shard.epoch, [r], 'write')
  }

  const key = (prefix: string) => keyIn(shard.range.lo, shard.range.hi, prefix)
  const wall = Date.now()
  const v: NodeRecord = {key: key('mgfs-v-'), version: formatHlc({wall, counter: 0, writer: 'router'}), value: Buffer.from('deleted value')}
  const d: NodeRecord = {key: v.key, version: formatHlc({wall, counter: 1, writer: 'router'}), value: null}
  const live: NodeRecord = {key: key('mgfs-l-'), version: formatHlc({wall, counter: 0, writer: 'router'}), value: Buffer.from('live value older than the floor')}
  for (const r of [v, d, live]) await put([moved, b, c], r)
  await sleep(GRACE_MS + 4 * OFFSET_MS + 60)
  const report = (await repairShards(ctx, {shard: shard.id, rounds: 2, purge: true, maxClockOffsetMs: OFFSET_MS, timeoutMs: 10_000})).shards[0]!
  const floors = [b, c].map((id) => node(id).engine.floorOf(0))

  // Fresh writes acknowledged with w = 2 by the moved replica and one of the two sources each.
  const now = Date.now()
  const onB: NodeRecord = {key: key('mgfs-b-'), version: formatHlc({wall: now, counter: 0, writer: 'router'}), value: Buffer.from('acknowledged by the moved replica and B')}
  const onC: NodeRecord = {key: key('mgfs-c-'), version: formatHlc({wall: now, counter: 0, writer: 'router'}), value: Buffer.from('acknowledged by the moved replica and C')}
  await put([moved, b], onB)
  await put([moved, c], onC)
  // The moved replica goes down for good.
  await stops.get(moved)!()

  const dst = (await start(joiner, LONG_GRACE_MS)).node
  const joining: Shard = {...shard, epoch: shard.epoch + 1, replicas: [...shard.replicas, {node: joiner, role: 'joining'}]}
  await store.put(ctx.keys.shard(shard.id), JSON.stringify(joining))
  for (const m of maps.values()) m.shards = [joining]
  // A late replay of the purged delete's value, before the copy's first frame: the destination takes it (an hour of grace).
  await dst.client.apply(shard.id, joining.epoch, [v], 'write', {replay: true})
  const tookLate = dst.engine.get(v.key)?.value?.toString()

  await dst.client.pull(shard.id, {moveId: 'm-gc-floor-sources', epoch: joining.epoch, sources: [b, c].map((id) => ({node: id, address: `127.0.0.1:${node(id).port}`})), rate: null, frameBytes: 64 * 1024})
  const copy = await settledPull(dst.client, shard.id, 20_000)
  const held = (r: NodeRecord) => dst.engine.get(r.key)?.value?.toString() ?? null
  return {report, floors, tookLate, copy, late: held(v), live: held(live), onB: held(onB), onC: held(onC), floor: dst.engine.floorOf(0)}
}

describe("a move's copy from several sources under adopted gc floors", {timeout: 60_000}, () => {
  for (const thread of [false, true]) {
    it(`Given the moved replica down and w = 2, so the copy reads B then C each from the beginning, When C's stream adopts its floor with the deletion (received ${thread ? 'in the copy receive thread' : 'on the main thread'}), Then the late value of the purged delete is gone and every acknowledged write, on B only, on C only, and a live value older than the floor, is on the destination`, async () => {
      const r = await story(thread)
      expect(r.report.purged).toBe(3)
      expect(r.floors[0]).toBeGreaterThan(0)
      expect(r.floors[1]).toBe(r.floors[0])
      expect(r.tookLate).toBe('deleted value')
      expect(r.copy.state).toBe('done')
      expect(r.floor).toBe(r.floors[0])
      expect(r.late).toBeNull()
      expect(r.live).toBe('live value older than the floor')
      expect(r.onB).toBe('acknowledged by the moved replica and B')
      expect(r.onC).toBe('acknowledged by the moved replica and C')
    })
  }
})
