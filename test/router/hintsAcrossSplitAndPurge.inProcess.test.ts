import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {listShards} from '../../src/cluster/clusterRepo.js'
import {initCluster} from '../../src/cluster/initCluster.js'
import {parseNodeSpecs} from '../../src/cluster/nodeSpec.js'
import {makeServiceContext, type ServiceContext} from '../../src/cluster/serviceContext.js'
import {HybridClock} from '../../src/model/hlc.js'
import {type Shard} from '../../src/model/shard.js'
import {compareRecords, versionWall} from '../../src/node/lwwMerge.js'
import {type NodeClient} from '../../src/node/nodeClient.js'
import {NodeRequestError} from '../../src/node/nodeRequestError.js'
import {type NodeRecord} from '../../src/node/protocol.js'
import {repairShards} from '../../src/repair/repairService.js'
import {Coordinator, type NodeDataApi} from '../../src/router/coordinator.js'
import {hintDelivery} from '../../src/router/hintDelivery.js'
import {HINT_DEFAULTS, type HintEvent, HintQueue, placeHint} from '../../src/router/hintQueue.js'
import {RoutingTable} from '../../src/router/routingTable.js'
import {MemoryStore} from '../../src/store/memoryStore.js'
import {type InProcessNode, startInProcessNode} from '../support/inProcessNode.js'
import {keyIn} from '../support/nodeTestData.js'
import {StaticShardMap} from '../support/staticShardMap.js'

/**
 * The router's write path and hinted handoff for real (Coordinator, HintQueue, placeHint,
 * hintDelivery) against three storage nodes serving their HTTP API in this process, with
 * the real anti-entropy (repairShards: fence, confirm, purge) and a tombstone grace of 3 s.
 * While n3 cannot be reached, a value is acknowledged by n1 and n2 and queued as a hint for
 * n3 that cannot get through; n3 then takes client writes again, so the key's delete
 * reaches all three and leaves no hint. n3 is cut off again while writes in the lower half
 * of the hash space become hints for it, and the shard splits (the router's and the nodes'
 * maps change together, as the split's one etcd transaction does): those hints must follow
 * their keys to the lower child at its new epoch (it is never repaired: n3 holds its keys
 * from the hints alone). Past the grace, anti-entropy purges the delete's tombstone on the
 * upper child; only then does the old value's hint get through, re-placed on the upper
 * child, and it must be refused: otherwise the deleted key comes back on n3, and a read of
 * n3 with either other replica returns it.
 */

const TOKEN = 'hints-split-purge-token-0123456789'
const GRACE_MS = 3000
const OFFSET_MS = 50
const HALF = 2 ** 31
const ids = ['n1', 'n2', 'n3']
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

let ctx: ServiceContext
let store: MemoryStore
let shards: Shard[]
const maps = new Map<string, StaticShardMap>()
const nodes = new Map<string, InProcessNode>()

beforeAll(async () => {
  store = new MemoryStore()
  ctx = makeServiceContext(store, {cluster: 'hints-split-purge'}, () => new Date())
  await initCluster(ctx, {shards: 1, rf: 3, nodes: parseNodeSpecs('n1=127.0.0.1:1,n2=127.0.0.1:2,n3=127.0.0.1:3'), force: false})
  await store.put(ctx.keys.token, TOKEN)
  shards = (await listShards(ctx)).shards.map((s) => s.value)
  for (const id of ids) {
    const map = new StaticShardMap(id, shards)
    maps.set(id, map)
    nodes.set(id, await startInProcessNode({nodeId: id, map, token: TOKEN, tombstoneGraceMs: GRACE_MS, maxClockOffsetMs: OFFSET_MS, timeoutMs: 10_000, dirPrefix: `shardctl-hints-split-${id}-`}))
    await store.put(ctx.keys.alive(id), JSON.stringify({node: id, address: `127.0.0.1:${nodes.get(id)!.port}`, pid: 1, startedAt: 't', tombstoneGraceMs: GRACE_MS}))
  }
}, 60_000)

afterAll(async () => {
  for (const n of nodes.values()) await n.close()
})

/**
 * Link is a router's way to one node: `down` makes every request fail as an unreachable
 * node does (connection refused), and so does `blocked` for the requests to a shard it names.
 */
class Link implements NodeDataApi {
  down = false
  blocked: (shard: number) => boolean = () => false
  constructor(private readonly node: string) {}
  private client(shard: number): NodeClient {
    if (this.down || this.blocked(shard)) throw new NodeRequestError('NODE_UNREACHABLE', `node ${this.node}: ECONNREFUSED`, this.node, 0)
    return nodes.get(this.node)!.client
  }
  async get(...args: Parameters<NodeDataApi['get']>) {
    return this.client(args[0]).get(...args)
  }
  async apply(...args: Parameters<NodeClient['apply']>) {
    return this.client(args[0]).apply(...args)
  }
}

/** readPairs is what a quorum read (r = 2) over each pair of replicas returns for `key` in `shard`: the LWW winner of the two, or undefined. */
async function readPairs(shard: Shard, key: Buffer): Promise<(NodeRecord | undefined)[]> {
  const got = await Promise.all(ids.map(async (id) => (await nodes.get(id)!.client.get(shard.id, shard.epoch, key)).record))
  const out: (NodeRecord | undefined)[] = []
  for (let a = 0; a < got.length; a++) {
    for (let b = a + 1; b < got.length; b++) {
      const x = got[a]
      const y = got[b]
      out.push(!x ? y : !y ? x : compareRecords(x, y) >= 0 ? x : y)
    }
  }
  return out
}

describe('hinted handoff across a split, and a late hint of a value whose delete was purged', {timeout: 60_000}, () => {
  it('Given hints queued for an unreachable replica, When the shard splits, Then they are delivered to the child owning their keys at its new epoch; and a hinted value whose key was deleted and purged meanwhile is refused, so the key stays deleted on every read pair', async () => {
    let table = RoutingTable.of(shards)
    // Separate links for the client path and the hint path: n3 comes back for client writes while its hints still wait.
    const writeLinks = new Map(ids.map((id) => [id, new Link(id)]))
    const hintLinks = new Map(ids.map((id) => [id, new Link(id)]))
    const events: Partial<Record<HintEvent, number>> = {}
    const hints = new HintQueue({
      ...HINT_DEFAULTS,
      place: (node, key) => placeHint(table, node, key),
      deliver: hintDelivery({node: (id) => hintLinks.get(id) as unknown as NodeClient, timeoutMs: 5000}),
      refresh: () => {},
      now: Date.now,
      startTimer: (fn, ms) => {
        const t = setTimeout(fn, ms)
        return () => clearTimeout(t)
      },
      onEvent: (e, n) => (events[e] = (events[e] ?? 0) + n),
    })
    const coordinator = new Coordinator({
      map: {table: () => table, refresh: async () => {}},
      node: (id) => writeLinks.get(id),
      clock: new HybridClock('r1', Date.now, 2 * OFFSET_MS),
      now: Date.now,
      hint: (h) => hints.add(h),
      options: {quorum: {}, nodeTimeoutMs: 5000, requestTimeoutMs: 10_000, staleRetries: 3},
    })

    const lower = Array.from({length: 10}, (_, i) => keyIn(0, HALF, `low-${i}-`))
    const doomed = keyIn(HALF, 2 ** 32, 'doomed-')
    const parent = shards[0]!
    const lowerChild: Shard = {...parent, range: {lo: parent.range.lo, hi: HALF}, epoch: parent.epoch + 1}
    const upperChild: Shard = {id: parent.id + 1, range: {lo: HALF, hi: parent.range.hi}, epoch: parent.epoch + 1, replicas: parent.replicas}
    // n3's hints get through to the lower child only once it exists, to the upper child only once the test says so.
    let upperOpen = false
    hintLinks.get('n3')!.blocked = (shard) => (shard === upperChild.id ? !upperOpen : table.shard(shard)?.epoch !== lowerChild.epoch)

    // n3 unreachable: the doomed key's value is acknowledged by n1 and n2 and queued as a hint for n3, which keeps failing.
    writeLinks.get('n3')!.down = true
    const old = await coordinator.write(doomed, Buffer.from('deleted later'))
    // n3 takes client writes again (its hint still cannot get through): the delete reaches all three, so no hint for it.
    writeLinks.get('n3')!.down = false
    const del = await coordinator.write(doomed, null)
    expect(del.version > old.version).toBe(true)
    expect((await nodes.get('n3')!.client.get(parent.id, parent.epoch, doomed)).record?.value).toBeNull()

    // n3 unreachable again: fresh writes in the lower half, acknowledged by n1 and n2, each a hint for n3.
    writeLinks.get('n3')!.down = true
    for (const [i, key] of lower.entries()) await coordinator.write(key, Buffer.from(`value-${i}`))
    // Wait for every round's hand-off (once n3's apply failed) before counting.
    await sleep(50)
    expect(events.queued).toBe(11)
    expect(events.delivered ?? 0).toBe(0)

    // The split: one transaction in etcd, so the router and the nodes see both halves at once.
    for (const s of [lowerChild, upperChild]) await store.put(ctx.keys.shard(s.id), JSON.stringify(s))
    for (const map of maps.values()) map.shards = [lowerChild, upperChild]
    table = RoutingTable.of([lowerChild, upperChild])

    // The lower half is never repaired: n3 holds its keys from the hints alone, delivered to the lower child at its new epoch.
    const n3Holds = async () => {
      for (const key of lower) if (!(await nodes.get('n3')!.client.get(lowerChild.id, lowerChild.epoch, key)).record) return false
      return true
    }
    for (let i = 0; i < 200 && !(await n3Holds()); i++) await sleep(50)
    for (const [i, key] of lower.entries()) expect((await nodes.get('n3')!.client.get(lowerChild.id, lowerChild.epoch, key)).record?.value?.toString(), key.toString()).toBe(`value-${i}`)
    expect(events.delivered).toBe(10)

    // Past the grace (and twice the clock bound), anti-entropy on the upper child purges the delete's tombstone on every replica.
    await sleep(Math.max(0, versionWall(del.version) + GRACE_MS + 4 * OFFSET_MS + 100 - Date.now()))
    const report = await repairShards(ctx, {shard: upperChild.id, rounds: 3, purge: true, maxClockOffsetMs: OFFSET_MS, timeoutMs: 10_000})
    const repaired = report.shards[0]!
    expect(repaired.gc, JSON.stringify(repaired)).toBeUndefined()
    expect(repaired.purged).toBe(3)
    for (const id of ids) expect((await nodes.get(id)!.client.get(upperChild.id, upperChild.epoch, doomed)).record, id).toBeUndefined()

    // Now the old value's hint gets through: older than the purged tombstone, it must be refused, never stored.
    upperOpen = true
    await hints.idle()
    for (const read of await readPairs(upperChild, doomed)) expect(read, 'a read pair of the deleted key').toBeUndefined()
    expect(events.rejected).toBe(1)
    expect(events.obsolete ?? 0).toBe(0)
    expect(events.expired ?? 0).toBe(0)
    // And nothing acknowledged is lost: every lower key reads its value from every pair.
    for (const [i, key] of lower.entries()) for (const read of await readPairs(lowerChild, key)) expect(read?.value?.toString(), key.toString()).toBe(`value-${i}`)
    await hints.close()
  })
})
