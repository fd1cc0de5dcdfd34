import {describe, expect, it} from 'vitest'
import {formatHlc} from '../../src/model/hlc.js'
import {type Shard} from '../../src/model/shard.js'
import {compareRecords} from '../../src/node/lwwMerge.js'
import {type NodeRecord} from '../../src/node/protocol.js'
import {repairShards} from '../../src/repair/repairService.js'
import {settledPull} from '../support/copyShard.js'
import {keyIn} from '../support/nodeTestData.js'
import {closedAfterEach, copyNodeWorld} from '../support/copyNodeWorld.js'
import {oneShardCluster} from '../support/oneShardCluster.js'

/**
 * The hole the grace check (graceMismatch.inProcess.test.ts) cannot see: a node that was
 * DOWN while anti-entropy purged a delete D (no alive record, so its grace was not
 * compared), restarted with a longer `--tombstone-grace`, then joins the shard through a
 * move. From `joining` on it takes client writes, and a late write of the value V that D
 * deleted (a router's hint replay, older than D) is within its own stale window. The
 * copy from the source brings nothing for the key (D is purged there). Unless the copy
 * carries the source's gc floor to the destination, V is live on the new voter after
 * cutover and a read quorum holding it returns the deleted value.
 *
 * The late V arrives twice: after `joining` and before the copy's first frame (the window
 * in which the destination cannot know the floor yet), and again after the copy. A live
 * value L as old as V (never deleted) must survive the same story: the copy brings it,
 * even when an early late write of it reached the destination first.
 */

const TOKEN = 'move-gc-floor-token-0123456789'
const GRACE_MS = 1_000
const OFFSET_MS = 20
const LONG_GRACE_MS = 3_600_000

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

const closing = closedAfterEach()

/** story runs the history above; `thread` receives the destination's copy in the copy receive thread (as a served node does). */
async function story(thread: boolean) {
  const cluster = await oneShardCluster('move-gc-floor', 2, 3, TOKEN)
  const {store, ctx, shard} = cluster
  const replicas = shard.replicas.map((r) => r.node)
  const joiner = ['n1', 'n2', 'n3'].find((n) => !replicas.includes(n))!
  const world = copyNodeWorld({cluster, token: TOKEN, thread, maxClockOffsetMs: OFFSET_MS, dirPrefix: 'shardctl-move-gc-floor-', closing})
  const {maps, nodes} = world
  const start = async (id: string, grace: number) => (await world.start(id, grace)).node
  // The joiner is down while the replicas purge: it has no alive record, the grace check sees the replicas only.
  for (const id of replicas) await start(id, GRACE_MS)
  const node = (id: string) => nodes.get(id)!

  const key = keyIn(shard.range.lo, shard.range.hi, 'mgf-v-')
  const liveKey = keyIn(shard.range.lo, shard.range.hi, 'mgf-l-')
  const wall = Date.now()
  const v: NodeRecord = {key, version: formatHlc({wall, counter: 0, writer: 'router'}), value: Buffer.from('deleted value')}
  const d: NodeRecord = {key, version: formatHlc({wall, counter: 1, writer: 'router'}), value: null}
  const l: NodeRecord = {key: liveKey, version: formatHlc({wall, counter: 0, writer: 'router'}), value: Buffer.from('live value')}
  for (const r of [v, d, l]) await Promise.all(replicas.map((id) => node(id).client.apply(shard.id, shard.epoch, [r], 'write')))
  // D older than the replicas' grace and twice the clock bound: anti-entropy may purge it.
  await sleep(GRACE_MS + 4 * OFFSET_MS + 60)
  const report = (await repairShards(ctx, {shard: shard.id, rounds: 2, purge: true, maxClockOffsetMs: OFFSET_MS, timeoutMs: 10_000})).shards[0]!

  // The joiner comes back with a longer grace and joins: `joining` at E+1 (it takes writes from then).
  const dst = await start(joiner, LONG_GRACE_MS)
  const setShard = (s: Shard) => {
    for (const m of maps.values()) m.shards = [s]
  }
  const joining: Shard = {...shard, epoch: shard.epoch + 1, replicas: [...shard.replicas, {node: joiner, role: 'joining'}]}
  await store.put(ctx.keys.shard(shard.id), JSON.stringify(joining))
  setShard(joining)
  /** late replays V (and L) to every written replica, as a router's hint delivery would; returns the nodes that stored V. */
  const late = async (epoch: number) => {
    const took: string[] = []
    for (const id of ['n1', 'n2', 'n3']) {
      const res = await node(id).client.apply(shard.id, epoch, [v, l], 'write', {replay: true}).catch(() => undefined)
      // Read from the engine: a joining replica serves no reads.
      if (res && node(id).engine.get(key)?.value) took.push(id)
    }
    return took
  }
  // Before the copy's first frame: the destination knows no floor yet.
  const beforeCopy = await late(joining.epoch)
  const source = replicas[0]!
  await dst.client.pull(shard.id, {moveId: 'm-gc-floor', epoch: joining.epoch, sources: [{node: source, address: `127.0.0.1:${node(source).port}`}], rate: null, frameBytes: 64 * 1024})
  const copy = await settledPull(dst.client, shard.id, 20_000)
  // After the copy: the destination has the floor by now.
  const afterCopy = await late(joining.epoch)

  // Cutover: the joiner becomes a voter (the replaced voter stays readable as outgoing).
  const cut: Shard = {...joining, epoch: joining.epoch + 1, replicas: [{node: replicas[0]!, role: 'outgoing'}, {node: replicas[1]!, role: 'voter'}, {node: joiner, role: 'voter'}]}
  await store.put(ctx.keys.shard(shard.id), JSON.stringify(cut))
  setShard(cut)
  const got = new Map<string, NodeRecord | undefined>()
  const gotLive = new Map<string, NodeRecord | undefined>()
  for (const id of ['n1', 'n2', 'n3']) {
    got.set(id, (await node(id).client.get(shard.id, cut.epoch, key)).record)
    gotLive.set(id, (await node(id).client.get(shard.id, cut.epoch, liveKey)).record)
  }
  const reads: string[] = []
  for (const [a, b] of [['n1', 'n2'], ['n1', 'n3'], ['n2', 'n3']] as const) {
    const x = got.get(a)
    const y = got.get(b)
    const read = !x ? y : !y ? x : compareRecords(x, y) >= 0 ? x : y
    if (read?.value) reads.push(`${a}+${b} read the deleted value back`)
  }
  return {report, copy, joiner, beforeCopy, afterCopy, reads, held: got.get(joiner), live: gotLive.get(joiner)}
}

describe('a move carries the source gc floor to its destination', {timeout: 60_000}, () => {
  for (const thread of [false, true]) {
    it(`Given a purged delete and a destination with a longer grace that was down during the purge, When it joins and a late write of the deleted value reaches it before and after the copy's first frame (copy received ${thread ? 'in the copy receive thread' : 'on the main thread'}), Then after cutover no read quorum returns the deleted value and a live value as old survives`, async () => {
      const r = await story(thread)
      // The purge ran: the joiner was not alive, so the grace check saw only the replicas.
      expect(r.report.gc).toBeUndefined()
      expect(r.report.purged).toBe(2)
      expect(r.copy.state).toBe('done')
      // The window is real: before the copy's first frame the destination took V (its own stale floor is an hour back).
      expect(r.beforeCopy).toEqual([r.joiner])
      // Nobody holds V once the copy brought the floor: the early late write is removed, the late one refused.
      expect(r.afterCopy).toEqual([])
      expect(r.held?.value ?? null).toBeNull()
      expect(r.reads).toEqual([])
      // The copy brought the live value back (the early replay of it was removed with V).
      expect(r.live?.value?.toString()).toBe('live value')
    })
  }
})
