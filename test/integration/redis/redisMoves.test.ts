import {setTimeout as sleepFor} from 'node:timers/promises'
import {Cluster} from 'ioredis'
import {afterAll, beforeAll, describe, expect, inject, it} from 'vitest'
import {listShards} from '../../../src/cluster/clusterRepo.js'
import {makeServiceContext, type ServiceContext} from '../../../src/cluster/serviceContext.js'
import {DEFAULT_EXECUTOR_OPTIONS} from '../../../src/executor/executorEnv.js'
import {type ApplyInput, executePlan} from '../../../src/executor/executePlan.js'
import {setKeysThrottle} from '../../../src/executor/controlService.js'
import {getMove, requestCancel} from '../../../src/executor/moveStore.js'
import {type Move} from '../../../src/model/move.js'
import {type Shard} from '../../../src/model/shard.js'
import {myself, parseClusterNodes} from '../../../src/redis/clusterNodes.js'
import {discoverTopology} from '../../../src/redis/discovery.js'
import {initRedisCluster} from '../../../src/redis/initRedisCluster.js'
import {withRedisNode} from '../../../src/redis/redisConnection.js'
import {slotsOfRange} from '../../../src/redis/slotMap.js'
import {type RealRedisCluster, redisAvailable, startRedisCluster} from '../../support/redisCluster.js'
import {StoreSet, uniqueCluster} from '../../support/testStore.js'

/**
 * The redis move runner through the real executor (executePlan, --resume style: move records
 * written to etcd, then run) on a real 3+3 Redis Cluster: a cancel mid-move returns the slots
 * already moved and leaves the shard where it was; a shard holding a key above the big-key
 * limit is refused with nothing changed, and moved when big keys are allowed; a move crawling
 * at 1 key/s speeds up when the operator raises keys/s live (`throttle set --keys-per-sec`).
 */

const available = await redisAvailable()
const stores = new StoreSet()
let redis: RealRedisCluster
let ctx: ServiceContext
let client: Cluster
let addressOf: Map<string, string>
let fullIdOf: Map<string, string>

beforeAll(async () => {
  if (!available) return
  redis = await startRedisCluster()
  const cluster = uniqueCluster('redis-moves')
  ctx = makeServiceContext(stores.open(inject('etcdEndpoint'), cluster), {cluster})
  await initRedisCluster(ctx, {seed: redis.seed, slotsPerShard: 256, force: false})
  client = new Cluster([{host: '127.0.0.1', port: redis.servers[0]!.port}])
  const topo = await discoverTopology(redis.seed)
  addressOf = new Map(topo.masters.map((m) => [m.id.slice(0, 12), m.address]))
  fullIdOf = new Map(topo.masters.map((m) => [m.id.slice(0, 12), m.id]))
}, 120_000)
afterAll(async () => {
  client?.disconnect()
  stores.closeAll()
  await redis?.stop()
})

const input = (over: Partial<ApplyInput> = {}): ApplyInput => ({limits: {maxConcurrent: 1, perNode: 1}, throttle: null, nodeThrottle: null, options: DEFAULT_EXECUTOR_OPTIONS, confirm: async () => true, holder: 'test', ...over})
const deps = {now: () => Date.now(), sleep: (ms: number, s: AbortSignal) => sleepFor(ms, undefined, {signal: s}).catch(() => {}), emit: () => {}}

async function recordMove(id: string, shard: Shard, to: string): Promise<void> {
  const at = new Date().toISOString()
  const move: Move = {id, plan: 'by-hand', index: 0, shard: shard.id, from: shard.replicas[0]!.node, to, baseEpoch: shard.epoch, epoch: shard.epoch, phase: 'pending', progress: {bytes: 0, keys: 0, totalBytes: 0, rateBytesPerSec: 0, cursor: null, stalled: false}, cancelRequested: false, rollbackRequested: false, reason: null, attempts: 0, createdAt: at, updatedAt: at, cutoverAt: null, copyStartedAt: null}
  await ctx.store.put(ctx.keys.move(id), JSON.stringify(move))
}

/** tagsIn finds `n` hash tags whose slots lie in `shard`, in ascending slot order. */
async function tagsIn(shard: Shard, n: number): Promise<{tag: string; slot: number}[]> {
  const {first, end} = slotsOfRange(shard.range)
  const found: {tag: string; slot: number}[] = []
  for (let i = 0; found.length < n && i < 200_000; i++) {
    const slot = Number(await client.call('CLUSTER', 'KEYSLOT', `m${i}`))
    if (slot >= first && slot < end && !found.some((f) => f.slot === slot)) found.push({tag: `m${i}`, slot})
  }
  return found.sort((a, b) => a.slot - b.slot)
}

async function ownerOf(slot: number): Promise<string> {
  for (const [id, address] of addressOf) {
    const owns = await withRedisNode(address, async (r) => myself(parseClusterNodes(String(await r.call('CLUSTER', 'NODES'))))!.slots.includes(slot))
    if (owns) return id
  }
  return 'none'
}

async function anyOpenSlot(): Promise<boolean> {
  for (const address of addressOf.values()) {
    const me = await withRedisNode(address, async (r) => myself(parseClusterNodes(String(await r.call('CLUSTER', 'NODES'))))!)
    if (me.migrating.size + me.importing.size > 0) return true
  }
  return false
}

/**
 * moveSlotByHand migrates `slot` from master `src` to master `dst` the way an operator's
 * redis-cli would (IMPORTING, MIGRATING, MIGRATE batches, SETSLOT NODE on every master): here
 * it plays a slot lost from the side shardctl had just moved it to.
 */
async function moveSlotByHand(slot: number, src: string, dst: string): Promise<void> {
  const [srcAddr, dstAddr, srcId, dstId] = [addressOf.get(src), addressOf.get(dst), fullIdOf.get(src), fullIdOf.get(dst)]
  if (!srcAddr || !dstAddr || !srcId || !dstId) throw new Error(`unknown master ${src} or ${dst}`)
  await withRedisNode(dstAddr, (r) => r.call('CLUSTER', 'SETSLOT', String(slot), 'IMPORTING', srcId))
  await withRedisNode(srcAddr, async (r) => {
    await r.call('CLUSTER', 'SETSLOT', String(slot), 'MIGRATING', dstId)
    const i = dstAddr.lastIndexOf(':')
    for (let round = 0; round < 1000; round++) {
      const keys = (await r.call('CLUSTER', 'GETKEYSINSLOT', String(slot), '100')) as string[]
      if (keys.length === 0) return
      await r.call('MIGRATE', dstAddr.slice(0, i), dstAddr.slice(i + 1), '', '0', '5000', 'REPLACE', 'KEYS', ...keys)
    }
    throw new Error(`slot ${slot} did not empty`)
  })
  for (const address of [dstAddr, srcAddr, ...[...addressOf.values()].filter((a) => a !== srcAddr && a !== dstAddr)]) {
    await withRedisNode(address, (r) => r.call('CLUSTER', 'SETSLOT', String(slot), 'NODE', dstId))
  }
}

describe.skipIf(!available)('redis move runner under the executor', () => {
  it('a slot that leaves the target after it was moved there is moved again before the shard record changes owner', async () => {
    const {shards} = await listShards(ctx)
    const shard = shards[4]!.value
    const from = shard.replicas[0]!.node
    const to = [...addressOf.keys()].find((id) => id !== from)!
    const [early, late] = await tagsIn(shard, 2)
    if (!early || !late) throw new Error('no two slots found in the shard')
    // Few keys in the early slot, many in the late one: at 16 KiB/s the late slot takes many
    // seconds, so the early slot is taken back while the move is still running.
    const keys = [...Array.from({length: 50}, (_, j) => `{${early.tag}}:${j}`), ...Array.from({length: 2000}, (_, j) => `{${late.tag}}:${j}`)]
    await Promise.all(keys.map((k) => client.set(k, `${k}:v`)))
    await recordMove('lost-slot', shard, to)
    const running = executePlan(ctx, input({throttle: 16 * 1024}), deps, new AbortController().signal)
    const deadline = Date.now() + 60_000
    while ((await ownerOf(early.slot)) !== to) {
      expect(Date.now()).toBeLessThan(deadline)
      await sleepFor(100)
    }
    await moveSlotByHand(early.slot, to, from)
    expect(await ownerOf(early.slot)).toBe(from)
    // The slot was lost while the move was still running: otherwise this test proves nothing.
    expect((await getMove(ctx, 'lost-slot')).value.phase).toBe('copying')
    const result = await running
    expect(result.moves).toEqual([expect.objectContaining({id: 'lost-slot', phase: 'done'})])
    const after = (await listShards(ctx)).shards.find((s) => s.value.id === shard.id)!.value
    expect(after.replicas).toEqual([{node: to, role: 'voter'}])
    // The record and Redis agree on every slot of the shard, as `plan` checks them.
    const {first, end} = slotsOfRange(shard.range)
    const toAddr = addressOf.get(to)!
    const served = await withRedisNode(toAddr, async (r) => new Set(myself(parseClusterNodes(String(await r.call('CLUSTER', 'NODES'))))!.slots))
    const notServed = Array.from({length: end - first}, (_, i) => first + i).filter((slot) => !served.has(slot))
    expect(notServed).toEqual([])
    expect(await anyOpenSlot()).toBe(false)
    expect(await Promise.all(keys.map((k) => client.get(k)))).toEqual(keys.map((k) => `${k}:v`))
  }, 150_000)

  it('a cancel mid-move brings the slots already moved back to the source; the shard record is unchanged', async () => {
    const {shards} = await listShards(ctx)
    const shard = shards[1]!.value
    const from = shard.replicas[0]!.node
    const to = [...addressOf.keys()].find((id) => id !== from)!
    const tags = await tagsIn(shard, 2)
    const keys = tags.flatMap(({tag}) => Array.from({length: 300}, (_, j) => `{${tag}}:${j}`))
    await Promise.all(keys.map((k) => client.set(k, `${k}:v`)))
    await recordMove('cancel-me', shard, to)
    // 16 KiB/s: the first tag's slot (~100 KiB) takes seconds, so the cancel lands between the two.
    const running = executePlan(ctx, input({throttle: 16 * 1024}), deps, new AbortController().signal)
    const deadline = Date.now() + 60_000
    while ((await ownerOf(tags[0]!.slot)) !== to) {
      expect(Date.now()).toBeLessThan(deadline)
      await sleepFor(100)
    }
    expect((await requestCancel(ctx, 'cancel-me')).changed).toBe(true)
    const result = await running
    expect(result.moves).toEqual([expect.objectContaining({id: 'cancel-me', phase: 'aborted'})])
    expect((await getMove(ctx, 'cancel-me')).value.reason).toMatch(/cancelled/)
    expect(await ownerOf(tags[0]!.slot)).toBe(from)
    expect(await ownerOf(tags[1]!.slot)).toBe(from)
    expect(await anyOpenSlot()).toBe(false)
    const after = (await listShards(ctx)).shards.find((s) => s.value.id === shard.id)!.value
    expect(after).toEqual(shard)
    const values = await Promise.all(keys.map((k) => client.get(k)))
    expect(values).toEqual(keys.map((k) => `${k}:v`))
  }, 120_000)

  it('refuses a shard with a key above the big-key limit before changing anything, and moves it with allowBigKeys', async () => {
    const {shards} = await listShards(ctx)
    const shard = shards[2]!.value
    const from = shard.replicas[0]!.node
    const to = [...addressOf.keys()].find((id) => id !== from)!
    const {tag, slot} = (await tagsIn(shard, 1))[0]!
    await client.set(`{${tag}}:big`, 'b'.repeat(1024 * 1024))
    await recordMove('big-refused', shard, to)
    const refused = await executePlan(ctx, input({redis: {bigKeyBytes: 512 * 1024}}), deps, new AbortController().signal)
    expect(refused.moves).toEqual([expect.objectContaining({id: 'big-refused', phase: 'aborted'})])
    expect((await getMove(ctx, 'big-refused')).value.reason).toMatch(new RegExp(`slot ${slot} holds key "\\{${tag}\\}:big" of [0-9.]+ MiB, above the 512 KiB limit.*--allow-big-keys`))
    expect(await ownerOf(slot)).toBe(from)
    expect(await anyOpenSlot()).toBe(false)

    await recordMove('big-allowed', shard, to)
    const moved = await executePlan(ctx, input({redis: {bigKeyBytes: 512 * 1024, allowBigKeys: true}}), deps, new AbortController().signal)
    expect(moved.moves).toEqual([expect.objectContaining({id: 'big-allowed', phase: 'done'})])
    expect(await ownerOf(slot)).toBe(to)
    expect((await client.get(`{${tag}}:big`))?.length).toBe(1024 * 1024)
    const after = (await listShards(ctx)).shards.find((s) => s.value.id === shard.id)!.value
    expect(after.replicas).toEqual([{node: to, role: 'voter'}])
    expect(after.epoch).toBe(shard.epoch + 4)
  }, 120_000)

  it('follows a live keys/s change: a move held to 1 key/s finishes once the operator raises it', async () => {
    const {shards} = await listShards(ctx)
    const shard = shards[3]!.value
    const from = shard.replicas[0]!.node
    const to = [...addressOf.keys()].find((id) => id !== from)!
    const {tag, slot} = (await tagsIn(shard, 1))[0]!
    const keys = Array.from({length: 400}, (_, j) => `{${tag}}:${j}`)
    await Promise.all(keys.map((k) => client.set(k, `${k}:v`)))
    await recordMove('keys-live', shard, to)
    const events: {type: string; message?: string; keys?: number}[] = []
    const running = executePlan(ctx, input({redis: {keysPerSec: 1, keysPerBatch: 10}}), {...deps, emit: (e) => events.push(e as never)}, new AbortController().signal)
    try {
      // At 1 key/s the 400 keys would take over six minutes; wait for the first batches to go.
      const deadline = Date.now() + 60_000
      while (!events.some((e) => e.type === 'progress')) {
        expect(Date.now()).toBeLessThan(deadline)
        await sleepFor(100)
      }
      const movedBefore = Math.max(...events.filter((e) => e.type === 'progress').map((e) => e.keys ?? 0))
      expect(movedBefore).toBeLessThan(200)
      expect((await setKeysThrottle(ctx, 100_000)).changed).toBe(true)
      const result = await running
      expect(result.moves).toEqual([expect.objectContaining({id: 'keys-live', phase: 'done'})])
      expect(events.some((e) => e.type === 'info' && /keys\/s now 100000/.test(e.message ?? ''))).toBe(true)
      expect(await ownerOf(slot)).toBe(to)
      expect(await Promise.all(keys.map((k) => client.get(k)))).toEqual(keys.map((k) => `${k}:v`))
      expect((await setKeysThrottle(ctx, 100_000)).changed).toBe(false)
    } finally {
      await setKeysThrottle(ctx, null)
    }
  }, 150_000)
})
