import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {listShards} from '../../src/cluster/clusterRepo.js'
import {initCluster} from '../../src/cluster/initCluster.js'
import {parseNodeSpecs} from '../../src/cluster/nodeSpec.js'
import {makeServiceContext, type ServiceContext} from '../../src/cluster/serviceContext.js'
import {formatHlc} from '../../src/model/hlc.js'
import {type Shard} from '../../src/model/shard.js'
import {compareRecords} from '../../src/node/lwwMerge.js'
import {type NodeRecord} from '../../src/node/protocol.js'
import {repairShards} from '../../src/repair/repairService.js'
import {MemoryStore} from '../../src/store/memoryStore.js'
import {type InProcessNode, startInProcessNode} from '../support/inProcessNode.js'
import {keyIn} from '../support/nodeTestData.js'
import {StaticShardMap} from '../support/staticShardMap.js'

/**
 * A seeded history against three storage nodes serving in this process (their HTTP API:
 * write screening, repair's gc floor, fence and purge) and the real anti-entropy
 * (repairShards: agreed cutoffs, planRepair, two-phase purge), with a grace and clock bound
 * of tens of milliseconds so every record becomes purgeable within the run, and node clocks
 * skewed within that bound. Now and then a node is down for a while (writes and late
 * deliveries miss it, anti-entropy cannot reach it), longer than the grace. Client writes
 * land on a random subset of the replicas (two or more: acknowledged; one: not); what a
 * replica missed comes later, late and in any order, as a hint replay (kind write, replay)
 * or a read repair (kind repair), both of which may find it refused or dropped by then.
 * Anti-entropy with purging runs between them. After every step, no pair of replicas (a
 * read quorum) may return, for any key, a record older than the last acknowledged write:
 * an older value is a deleted value back; nothing, where neither that write nor a later
 * unacknowledged one was a delete, is a lost write.
 */

const TOKEN = 'purge-history-token-0123456789'
const GRACE_MS = 40
const OFFSET_MS = 15
/** SKEW_MS: each node's clock against this process's (the routers'), within the bound. */
const SKEW_MS: Record<string, number> = {n1: OFFSET_MS, n2: 0, n3: -OFFSET_MS}

let ctx: ServiceContext
let store: MemoryStore
let shard: Shard
const nodes = new Map<string, InProcessNode>()
const ids = ['n1', 'n2', 'n3']

beforeAll(async () => {
  store = new MemoryStore()
  ctx = makeServiceContext(store, {cluster: 'purge-history'}, () => new Date())
  await initCluster(ctx, {shards: 1, rf: 3, nodes: parseNodeSpecs('n1=127.0.0.1:1,n2=127.0.0.1:2,n3=127.0.0.1:3'), force: false})
  await store.put(ctx.keys.token, TOKEN)
  shard = (await listShards(ctx)).shards[0]!.value
  for (const id of ids) {
    const node = await startInProcessNode({nodeId: id, map: new StaticShardMap(id, [shard]), token: TOKEN, tombstoneGraceMs: GRACE_MS, maxClockOffsetMs: OFFSET_MS, clock: () => Date.now() + SKEW_MS[id]!, timeoutMs: 20_000, dirPrefix: `shardctl-purge-history-${id}-`})
    nodes.set(id, node)
    await markAlive(id)
  }
}, 60_000)

/** markAlive publishes node `id`'s address; without it anti-entropy reaches the node record's dead port (a node that is down). */
async function markAlive(id: string): Promise<void> {
  await store.put(ctx.keys.alive(id), JSON.stringify({node: id, address: `127.0.0.1:${nodes.get(id)!.port}`, pid: 1, startedAt: 't', tombstoneGraceMs: GRACE_MS}))
}

afterAll(async () => {
  for (const n of nodes.values()) await n.close()
})

function rng(seed: number): () => number {
  let s = seed
  return () => (s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

describe('tombstone purge under late hints and read repairs', {timeout: 240_000}, () => {
  it('Given seeded histories of partial writes, late deliveries and purging anti-entropy, Then no read quorum ever returns a record older than the last acknowledged write of a key', async () => {
    const keys = Array.from({length: 12}, (_, i) => keyIn(shard.range.lo, shard.range.hi, `hk${i}-`))
    const lastAcked = new Map<number, NodeRecord>()
    const issued = new Map<number, NodeRecord[]>()
    const late: {node: string; record: NodeRecord; k: number}[] = []
    let counter = 0
    let purged = 0
    let dropped = 0
    const rand = rng(20261202)
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!
    const check = async (step: string) => {
      for (const [k, acked] of lastAcked) {
        const got = await Promise.all(ids.map(async (id) => (await nodes.get(id)!.client.get(shard.id, shard.epoch, keys[k]!)).record))
        for (let a = 0; a < ids.length; a++) {
          for (let b = a + 1; b < ids.length; b++) {
            const x = got[a]
            const y = got[b]
            const read = !x ? y : !y ? x : compareRecords(x, y) >= 0 ? x : y
            const what = `${step}: key ${k} read from ${ids[a]}+${ids[b]} gave ${read ? `${read.version} ${read.value === null ? 'tombstone' : 'value'}` : 'nothing'}; last acknowledged ${acked.version} ${acked.value === null ? 'tombstone' : 'value'}`
            // "Deleted" (nothing, or any tombstone: a late one may land after the purge) is right after an
            // acknowledged delete, or after a newer delete that was not acknowledged (it may take effect:
            // anti-entropy spreads it and purges it like any other). A value must be the acknowledged one or newer.
            const deletedSince = acked.value === null || (issued.get(k) ?? []).some((r) => r.value === null && r.version > acked.version)
            if (!read || read.value === null) expect(deletedSince || (read !== undefined && compareRecords(read, acked) >= 0), `lost write: ${what}`).toBe(true)
            else expect(compareRecords(read, acked) >= 0, `stale or resurrected value: ${what}`).toBe(true)
          }
        }
      }
    }
    let away: string | undefined
    let awaySteps = 0
    for (let step = 0; step < 400; step++) {
      const roll = rand()
      if (roll < 0.04) {
        // A node goes down (writes miss it, hints wait, anti-entropy cannot reach it) or comes back.
        if (away) {
          await markAlive(away)
          away = undefined
        } else {
          away = pick(ids)
          await store.delete(ctx.keys.alive(away))
          awaySteps++
        }
      } else if (roll < 0.45) {
        const k = Math.floor(rand() * keys.length)
        const record: NodeRecord = {key: keys[k]!, version: formatHlc({wall: Date.now(), counter: counter++, writer: 'router'}), value: rand() < 0.4 ? null : Buffer.from(`v${step}`)}
        issued.set(k, [...(issued.get(k) ?? []), record])
        const reached = ids.filter((id) => id !== away && rand() < 0.6)
        let stored = 0
        for (const id of reached) {
          const res = await nodes.get(id)!.client.apply(shard.id, shard.epoch, [record], 'write').catch(() => undefined)
          if (res && !res.superseded?.length) stored++
        }
        if (stored >= 2) lastAcked.set(k, record)
        for (const id of ids.filter((n) => !reached.includes(n))) late.push({node: id, record, k})
      } else if (roll < 0.75 && late.some((l) => l.node !== away)) {
        const waiting = late.flatMap((l, i) => (l.node === away ? [] : [i]))
        const i = pick(waiting)
        const {node, record} = late.splice(i, 1)[0]!
        const replay = rand() < 0.5
        const res = await nodes
          .get(node)!
          .client.apply(shard.id, shard.epoch, [record], replay ? 'write' : 'repair', replay ? {replay: true} : {})
          .catch(() => undefined)
        if (!res || res.applied === 0) dropped++
      } else if (roll < 0.85) {
        const report = await repairShards(ctx, {shard: shard.id, rounds: 2, purge: true, maxClockOffsetMs: OFFSET_MS, timeoutMs: 10_000})
        purged += report.shards[0]?.purged ?? 0
      } else {
        await sleep(pick([5, 20, 60, 120]))
      }
      await check(`step ${step}`)
    }
    // The history must have exercised what it is about: purges, and late deliveries refused or dropped by then.
    expect(purged).toBeGreaterThan(10)
    expect(awaySteps).toBeGreaterThan(2)
    expect(dropped).toBeGreaterThan(10)
  })
})
