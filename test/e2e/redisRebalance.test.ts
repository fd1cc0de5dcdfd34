import {mkdtempSync, readFileSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {type Cluster, type Redis} from 'ioredis'
import {openClusterClient} from '../../src/redis/clusterClient.js'
import {afterAll, beforeAll, describe, expect, inject, it} from 'vitest'
import {listShards} from '../../src/cluster/clusterRepo.js'
import {makeServiceContext, type ServiceContext} from '../../src/cluster/serviceContext.js'
import {readSnapshot} from '../../src/cluster/snapshotService.js'
import {type Move, MoveSchema} from '../../src/model/move.js'
import {type Plan} from '../../src/model/plan.js'
import {isLiveMaster, myself, parseClusterNodes, shortNodeId} from '../../src/redis/clusterNodes.js'
import {discoverTopology} from '../../src/redis/discovery.js'
import {parseMoveCursor} from '../../src/redis/moveCursor.js'
import {connectRedisNode} from '../../src/redis/redisConnection.js'
import {slotsOfRange} from '../../src/redis/slotMap.js'
import {spawnCli} from '../support/cliChild.js'
import {expireDeadExecutorLock} from '../support/deadExecutorLock.js'
import {type RealRedisCluster, redisAvailable, startRedisCluster} from '../support/redisCluster.js'
import {runCli} from '../support/runCli.js'
import {StoreSet, uniqueCluster} from '../support/testStore.js'

/**
 * The redis engine's end-to-end proof on real processes (a 3+3 Redis Cluster of
 * redis-server, etcd, the shardctl binary): a cluster skewed onto one master is planned
 * (load-aware) and applied while a cluster-aware client (ioredis, following MOVED/ASK) writes
 * and reads; the first apply is SIGKILLed with a slot open mid-migration and `apply --resume`
 * finishes it. Afterwards no client operation failed, every key reads its last written value,
 * no slot is open, etcd's shard map matches Redis, and the hot master holds fewer keys. Then a
 * slot opened by hand (half its keys moved, as a dead `redis-cli --cluster rebalance` leaves
 * it) is closed by `shardctl redis fix`, and one with no key moved is rolled back.
 */

const available = await redisAvailable()
const stores = new StoreSet()
let redis: RealRedisCluster
let ctx: ServiceContext
let cwd: string
let endpoint: string
const cluster = uniqueCluster('redis-e2e')
const cli = (args: string[], timeoutMs = 120_000) => runCli([...args, '--endpoints', endpoint, '--cluster', cluster], {cwd, timeoutMs})

beforeAll(async () => {
  if (!available) return
  endpoint = inject('etcdEndpoint')
  cwd = mkdtempSync(join(tmpdir(), 'shardctl-redis-e2e-'))
  ctx = makeServiceContext(stores.open(endpoint, cluster), {cluster})
  redis = await startRedisCluster()
}, 120_000)
afterAll(async () => {
  stores.closeAll()
  await redis?.stop()
  if (cwd) rmSync(cwd, {recursive: true, force: true})
})

/** Workload: bounded writers and readers on a cluster-aware client; each key has one writer, so a read must see its last acknowledged write. */
class Workload {
  readonly last = new Map<string, string>()
  errors: string[] = []
  stale = 0
  ops = 0
  private stopped = false
  private readonly done: Promise<void[]>

  constructor(
    client: Cluster,
    keys: string[],
    workers: number,
    maxOps: number,
  ) {
    const deadline = Date.now() + 240_000
    this.done = Promise.all(
      Array.from({length: workers}, async (_, w) => {
        const mine = keys.filter((_, i) => i % workers === w)
        for (let n = 0; !this.stopped && this.ops < maxOps && Date.now() < deadline; n++) {
          const key = mine[n % mine.length]!
          const value = `${key}=${n}`
          try {
            await client.set(key, value)
            this.last.set(key, value)
            this.ops++
            const got = await client.get(key)
            this.ops++
            if (got !== value) this.stale++
          } catch (err) {
            this.errors.push(`${key}: ${(err as Error).message}`)
          }
        }
      }),
    )
  }

  async stop(): Promise<void> {
    this.stopped = true
    await this.done
  }
}

async function moveRecords(): Promise<Move[]> {
  const {items} = await ctx.store.list(ctx.keys.movesPrefix)
  return items.map((kv) => MoveSchema.parse(JSON.parse(kv.value)))
}

/** openSlotsNow lists slots some master marks MIGRATING, with the key counts on both sides. */
async function openSlotsNow(): Promise<{slot: number; sourceKeys: number; targetKeys: number}[]> {
  const topo = await discoverTopology(redis.seed)
  const out: {slot: number; sourceKeys: number; targetKeys: number}[] = []
  for (const m of topo.masters) {
    const r = await connectRedisNode(m.address)
    try {
      const me = myself(parseClusterNodes(String(await r.call('CLUSTER', 'NODES'))))!
      for (const [slot, to] of me.migrating) {
        const target = topo.masters.find((x) => x.id === to)!
        const t = await connectRedisNode(target.address)
        try {
          out.push({slot, sourceKeys: Number(await r.call('CLUSTER', 'COUNTKEYSINSLOT', String(slot))), targetKeys: Number(await t.call('CLUSTER', 'COUNTKEYSINSLOT', String(slot)))})
        } finally {
          t.disconnect()
        }
      }
      for (const slot of me.importing.keys()) out.push({slot, sourceKeys: -1, targetKeys: -1})
    } finally {
      r.disconnect()
    }
  }
  // One entry per slot: the migrating side's (with key counts) when there is one.
  return [...new Map(out.sort((a, b) => a.sourceKeys - b.sourceKeys).map((o) => [o.slot, o])).values()].sort((a, b) => a.slot - b.slot)
}

async function keysPerMaster(): Promise<Map<string, number>> {
  const topo = await discoverTopology(redis.seed)
  const out = new Map<string, number>()
  for (const m of topo.masters) {
    const r = await connectRedisNode(m.address)
    try {
      out.set(shortNodeId(m.id), Number(await r.dbsize()))
    } finally {
      r.disconnect()
    }
  }
  return out
}

async function poll<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs: number, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const v = await fn()
    if (v !== undefined) return v
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, everyMs))
  }
}

describe.skipIf(!available)('redis engine end to end on real redis-server processes', () => {
  let client: Cluster
  let keys: string[] = []

  afterAll(() => client?.disconnect())

  it('plans a skewed cluster by load and applies it under live client load, surviving a SIGKILL mid-slot', async () => {
    // No auto-pipelining: ioredis cannot re-route an auto-pipelined batch after MOVED.
    client = openClusterClient([{host: '127.0.0.1', port: redis.servers[0]!.port}])
    // Skew: 12,000 keys of 300-byte values in 12 hash tags whose slots the first master owns, 300 more spread over all slots.
    const topo = await discoverTopology(redis.seed)
    const hot = topo.masters.filter(isLiveMaster)[0]!
    const seedConn: Redis = await connectRedisNode(redis.seed)
    const tags: string[] = []
    for (let i = 0; tags.length < 12 && i < 10_000; i++) {
      const slot = Number(await seedConn.call('CLUSTER', 'KEYSLOT', `t${i}`))
      if (hot.slots.includes(slot)) tags.push(`t${i}`)
    }
    seedConn.disconnect()
    expect(tags).toHaveLength(12)
    keys = [...tags.flatMap((t) => Array.from({length: 1000}, (_, j) => `{${t}}:${j}`)), ...Array.from({length: 300}, (_, i) => `spread:${i}`)]
    for (let i = 0; i < keys.length; i += 2000) await Promise.all(keys.slice(i, i + 2000).map((k) => client.set(k, 'v'.repeat(300))))
    const before = await keysPerMaster()
    expect(before.get(shortNodeId(hot.id))).toBeGreaterThanOrEqual(12_000)

    const init = await cli(['cluster', 'init', '--engine', 'redis', '--seed', redis.seed, '--slots-per-shard', '256', '--json'])
    expect(init.code, init.stderr).toBe(0)
    expect(JSON.parse(init.stdout)).toMatchObject({rf: 1, nodes: expect.arrayContaining([expect.objectContaining({id: shortNodeId(hot.id)})])})
    const status = await cli(['shard', 'list', '--json'])
    expect(status.code, status.stderr).toBe(0)

    // The workload runs from here to the end: the plan's snapshot sees its ops on the hot master too.
    const work = new Workload(client, keys.filter((_, i) => i % 4 === 0), 8, 2_000_000)
    try {
      const planFile = join(cwd, 'plan.json')
      const plan = await cli(['plan', '--out', planFile, '--max-moves', '4', '--format', 'json'])
      expect(plan.code, plan.stderr).toBe(0)
      const planBody = JSON.parse(readFileSync(planFile, 'utf8')) as Plan
      const planned = planBody.actions.filter((a) => a.kind === 'move')
      expect(planned.length).toBeGreaterThan(0)
      for (const a of planned) if (a.kind === 'move') expect(a.from).toBe(shortNodeId(hot.id))

      // First apply: slow (throttled, small batches), killed while a slot is open with keys on both sides.
      const first = spawnCli(['apply', planFile, '--yes', '--throttle', '64KiB/s', '--batch-keys', '10', '--endpoints', endpoint, '--cluster', cluster])
      let open: {slot: number}
      try {
        open = await poll('a slot open mid-migration', async () => (await openSlotsNow()).find((o) => o.sourceKeys > 0 && o.targetKeys > 0), 150_000)
      } catch (err) {
        throw new Error(`${(err as Error).message}; apply said: ${first.stdout().slice(-2000)} ${first.logs().slice(-2000)}`)
      } finally {
        await first.kill()
      }
      // Recorded before done: etcd has a move whose cursor says this slot is open.
      const recorded = (await moveRecords()).filter((m) => m.phase === 'copying')
      expect(recorded.some((m) => parseMoveCursor(m.progress.cursor)?.open === true && parseMoveCursor(m.progress.cursor)?.next === open.slot), first.logs()).toBe(true)
      expect((await openSlotsNow()).length).toBeGreaterThan(0)

      // The killed executor's lock goes with its lease: revoked here as etcd expires it once its
      // 10 s TTL passes without keepalives (the holder is checked dead). LOCK_HELD (exit 8) while held.
      await expireDeadExecutorLock(ctx)
      let resumed = await cli(['apply', '--resume', '--yes', '--json'], 180_000)
      for (let i = 0; i < 10 && resumed.code === 8; i++) {
        await new Promise((r) => setTimeout(r, 2000))
        resumed = await cli(['apply', '--resume', '--yes', '--json'], 180_000)
      }
      expect(resumed.code, resumed.stderr + resumed.stdout).toBe(0)
      const all = await moveRecords()
      expect(all.map((m) => m.phase).sort()).toEqual(planned.map(() => 'done'))
    } finally {
      await work.stop()
    }
    expect(work.errors.slice(0, 5)).toEqual([])
    expect(work.stale).toBe(0)
    expect(work.ops).toBeGreaterThan(1000)
    for (const [key, value] of work.last) expect(await client.get(key), key).toBe(value)
    expect(await openSlotsNow()).toEqual([])

    // etcd's shard map matches what Redis serves (readSnapshot checks every slot's owner), and the hot master gave keys away.
    const snap = await readSnapshot(ctx)
    const {shards} = await listShards(ctx)
    const movedAway = shards.filter((s) => s.value.epoch > 1)
    expect(movedAway.length).toBeGreaterThan(0)
    for (const s of movedAway) expect(s.value.replicas[0]!.node).not.toBe(shortNodeId(hot.id))
    expect(snap.load.reduce((a, l) => a + l.keys, 0)).toBe(keys.length)
    const after = await keysPerMaster()
    expect(after.get(shortNodeId(hot.id))!).toBeLessThan(before.get(shortNodeId(hot.id))!)
  }, 480_000)

  it('redis fix finishes a slot left open by hand with keys on both sides, and rolls back one with no key moved', async () => {
    const {shards} = await listShards(ctx)
    const topo = await discoverTopology(redis.seed)
    const byShort = new Map(topo.masters.map((m) => [shortNodeId(m.id), m]))
    // A slot holding hot keys, and an empty slot, both of the same owner.
    const slotOfTag = async (k: string) => Number(await client.call('CLUSTER', 'KEYSLOT', k))
    const full = await slotOfTag(keys[0]!)
    const ownerShard = shards.find((s) => {
      const r = slotsOfRange(s.value.range)
      return full >= r.first && full < r.end
    })!.value
    const source = byShort.get(ownerShard.replicas[0]!.node)!
    const target = topo.masters.find((m) => m.id !== source.id)!
    const src = await connectRedisNode(source.address)
    const dst = await connectRedisNode(target.address)
    try {
      const empty = source.slots.find((s) => s !== full && s > 0)!
      expect(Number(await src.call('CLUSTER', 'COUNTKEYSINSLOT', String(empty)))).toBe(0)
      for (const slot of [full, empty]) {
        await dst.call('CLUSTER', 'SETSLOT', String(slot), 'IMPORTING', source.id)
        await src.call('CLUSTER', 'SETSLOT', String(slot), 'MIGRATING', target.id)
      }
      const some = (await src.call('CLUSTER', 'GETKEYSINSLOT', String(full), '100')) as string[]
      expect(some.length).toBeGreaterThan(0)
      const [host, port] = target.address.split(':')
      await src.call('MIGRATE', host!, port!, '', '0', '5000', 'KEYS', ...some)

      const dry = await cli(['redis', 'fix', '--json'])
      expect(dry.code, dry.stderr).toBe(0)
      expect(JSON.parse(dry.stdout).slots).toEqual([
        expect.objectContaining({slot: Math.min(full, empty), action: full < empty ? 'finish' : 'rollback'}),
        expect.objectContaining({slot: Math.max(full, empty), action: full < empty ? 'rollback' : 'finish'}),
      ])
      expect((await openSlotsNow()).map((o) => o.slot).sort((a, b) => a - b)).toEqual([full, empty].sort((a, b) => a - b))

      const fixed = await cli(['redis', 'fix', '--yes', '--json'])
      expect(fixed.code, fixed.stderr).toBe(0)
      expect(await openSlotsNow()).toEqual([])
      const owner = async (conn: Redis, slot: number) => myself(parseClusterNodes(String(await conn.call('CLUSTER', 'NODES'))))!.slots.includes(slot)
      expect(await owner(dst, full)).toBe(true)
      expect(await owner(src, empty)).toBe(true)
      expect(Number(await src.call('CLUSTER', 'COUNTKEYSINSLOT', String(full)))).toBe(0)
      const again = await cli(['redis', 'fix', '--yes', '--json'])
      expect(JSON.parse(again.stdout).slots).toEqual([])
    } finally {
      src.disconnect()
      dst.disconnect()
    }
    // Every key is still readable through the cluster-aware client.
    const values = await Promise.all(keys.map((k) => client.get(k)))
    expect(values.filter((v) => v === null)).toEqual([])
  }, 120_000)
})
