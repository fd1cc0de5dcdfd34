import {afterEach, describe, expect, it} from 'vitest'
import {formatHlc} from '../../src/model/hlc.js'
import {type Shard} from '../../src/model/shard.js'
import {compareRecords} from '../../src/node/lwwMerge.js'
import {type NodeRecord} from '../../src/node/protocol.js'
import {repairShards} from '../../src/repair/repairService.js'
import {type InProcessNode, startInProcessNode} from '../support/inProcessNode.js'
import {keyIn} from '../support/nodeTestData.js'
import {oneShardCluster} from '../support/oneShardCluster.js'
import {StaticShardMap} from '../support/staticShardMap.js'

/**
 * Tombstone purging with nodes of different `--tombstone-grace`: the shard's two replicas
 * serve a grace of a second, a third node (not a replica yet) a long one. A
 * value V and its delete D are acknowledged by both replicas; anti-entropy runs with
 * purging once D is older than the replicas' grace; then a move makes the third node a
 * voter (its copy carries no record of the key: D is purged, or it carries D) and a late
 * client write of V (a router's hint replay) reaches every replica. The replicas refuse it
 * (older than their stale floor and gc floor); the joined node takes it when its grace is
 * longer. No read quorum may then return V.
 */

const TOKEN = 'grace-mismatch-token-0123456789'
const GRACE_MS = 1_000
const OFFSET_MS = 20
const LONG_GRACE_MS = 3_600_000

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

let nodes: InProcessNode[] = []
afterEach(async () => {
  for (const n of nodes) await n.close()
  nodes = []
})

/** cluster starts n1..n3 in process (rf 2), each with the grace `graceOf` gives it (undefined: its alive record publishes none). */
async function cluster(graceOf: (node: string, replica: boolean) => number | undefined) {
  const {store, ctx, shard} = await oneShardCluster('grace-mismatch', 2, 3, TOKEN)
  const replicas = shard.replicas.map((r) => r.node)
  const joiner = ['n1', 'n2', 'n3'].find((n) => !replicas.includes(n))!
  const maps = new Map<string, StaticShardMap>()
  const byId = new Map<string, InProcessNode>()
  for (const id of ['n1', 'n2', 'n3']) {
    const published = graceOf(id, id !== joiner)
    const map = new StaticShardMap(id, [shard])
    const node = await startInProcessNode({nodeId: id, map, token: TOKEN, tombstoneGraceMs: published ?? LONG_GRACE_MS, maxClockOffsetMs: OFFSET_MS, timeoutMs: 20_000, dirPrefix: `shardctl-grace-mismatch-${id}-`})
    nodes.push(node)
    maps.set(id, map)
    byId.set(id, node)
    await store.put(ctx.keys.alive(id), JSON.stringify({node: id, address: `127.0.0.1:${node.port}`, pid: 1, startedAt: 't', ...(published === undefined ? {} : {tombstoneGraceMs: published})}))
  }
  /** join ends a move that makes the joiner a voter (at a new epoch, in etcd and in every node's map). */
  const join = async (): Promise<Shard> => {
    const moved: Shard = {...shard, epoch: shard.epoch + 1, replicas: [...shard.replicas, {node: joiner, role: 'voter'}]}
    await store.put(ctx.keys.shard(shard.id), JSON.stringify(moved))
    for (const m of maps.values()) m.shards = [moved]
    return moved
  }
  return {ctx, shard, replicas, joiner, node: (id: string) => byId.get(id)!, join}
}

/**
 * history runs the story above and returns what anti-entropy reported and, per pair of
 * nodes (a read quorum of the three), the record the read resolves to.
 */
async function history(c: Awaited<ReturnType<typeof cluster>>) {
  const key = keyIn(c.shard.range.lo, c.shard.range.hi, 'gm-')
  const wall = Date.now()
  const v: NodeRecord = {key, version: formatHlc({wall, counter: 0, writer: 'router'}), value: Buffer.from('deleted value')}
  const d: NodeRecord = {key, version: formatHlc({wall, counter: 1, writer: 'router'}), value: null}
  for (const r of [v, d]) await Promise.all(c.replicas.map((id) => c.node(id).client.apply(c.shard.id, c.shard.epoch, [r], 'write')))
  // D older than the replicas' grace and twice the clock bound: anti-entropy may purge it.
  await sleep(GRACE_MS + 4 * OFFSET_MS + 60)
  const report = (await repairShards(c.ctx, {shard: c.shard.id, rounds: 2, purge: true, maxClockOffsetMs: OFFSET_MS, timeoutMs: 10_000})).shards[0]!
  const moved = await c.join()
  // The joiner's copy: what a replica holds of the key (D, or nothing once purged).
  const held = (await c.node(c.replicas[0]!).client.get(moved.id, moved.epoch, key)).record
  // As the copy would (a tombstone passes repair's floor screen whatever its age).
  if (held) await c.node(c.joiner).client.apply(moved.id, moved.epoch, [held], 'repair')
  const refused: string[] = []
  for (const id of ['n1', 'n2', 'n3']) {
    const res = await c.node(id).client.apply(moved.id, moved.epoch, [v], 'write', {replay: true}).catch(() => undefined)
    if (!res || res.applied === 0) refused.push(id)
  }
  const got = new Map<string, NodeRecord | undefined>()
  for (const id of ['n1', 'n2', 'n3']) got.set(id, (await c.node(id).client.get(moved.id, moved.epoch, key)).record)
  const reads: string[] = []
  for (const [a, b] of [['n1', 'n2'], ['n1', 'n3'], ['n2', 'n3']] as const) {
    const x = got.get(a)
    const y = got.get(b)
    const read = !x ? y : !y ? x : compareRecords(x, y) >= 0 ? x : y
    if (read?.value) reads.push(`${a}+${b} read the deleted value back`)
  }
  return {report, refused, reads}
}

describe('tombstone purge with nodes of different --tombstone-grace', {timeout: 60_000}, () => {
  it('Given a node with a longer grace than the replicas, When anti-entropy runs and the node then joins the shard and a late write of the deleted value arrives, Then the purge is refused naming the graces and no read quorum returns the deleted value', async () => {
    const c = await cluster((_, replica) => (replica ? GRACE_MS : LONG_GRACE_MS))
    const {report, refused, reads} = await history(c)
    expect(reads).toEqual([])
    expect(report.purged).toBe(0)
    expect(report.gc).toBe(`nodes serve different --tombstone-grace (${[...c.replicas].sort().join(', ')}: ${GRACE_MS} ms; ${c.joiner}: ${LONG_GRACE_MS} ms): tombstones are kept until every node is restarted with the same --tombstone-grace`)
    // Every node refused the late write or kept it below the tombstone: the joiner, whose stale floor is an hour back, by LWW against the copied tombstone.
    expect(refused.sort()).toEqual(['n1', 'n2', 'n3'])
  })

  it('Given every node with one grace, When the same history runs, Then the tombstone is purged and the joined node refuses the late write too', async () => {
    const c = await cluster(() => GRACE_MS)
    const {report, refused, reads} = await history(c)
    expect(report.gc).toBeUndefined()
    expect(report.purged).toBe(2)
    expect(refused.sort()).toEqual(['n1', 'n2', 'n3'])
    expect(reads).toEqual([])
  })

  it('Given a node whose alive record publishes no grace (an older build), When anti-entropy runs, Then nothing is purged and the reason names it', async () => {
    const c = await cluster((_, replica) => (replica ? GRACE_MS : undefined))
    const {report, reads} = await history(c)
    expect(report.purged).toBe(0)
    expect(report.gc).toBe(`node ${c.joiner} publishes no --tombstone-grace (an older build): tombstones are kept until every node runs a build that publishes it`)
    expect(reads).toEqual([])
  })
})
