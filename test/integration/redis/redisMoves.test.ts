import {setTimeout as sleepFor} from 'node:timers/promises'
import {beforeEach, describe, expect, it} from 'vitest'
import {listShards} from '../../../src/cluster/clusterRepo.js'
import {DEFAULT_EXECUTOR_OPTIONS, type ExecutorEvent} from '../../../src/executor/executorEnv.js'
import {type ApplyInput, type ApplyResult, executePlan} from '../../../src/executor/executePlan.js'
import {setKeysThrottle} from '../../../src/executor/controlService.js'
import {getMove, requestCancel} from '../../../src/executor/moveStore.js'
import {type Move} from '../../../src/model/move.js'
import {EPOCH_STEPS} from '../../../src/model/plan.js'
import {type Shard} from '../../../src/model/shard.js'
import {fixOpenSlots} from '../../../src/redis/fixOpenSlots.js'
import {slotsOfRange} from '../../../src/redis/slotMap.js'
import {moveSlotByHand, openSlotMarks, ownerOf, redisAvailable, servedSlots, tagsInSlots} from '../../support/redisCluster.js'
import {abortExecutorAfterEach, type RunningExecutor, useRedisCluster} from '../../support/redisTestFile.js'

/**
 * The redis move runner through the real executor (executePlan, --resume style: move records
 * written to etcd, then run) on a real 3+3 Redis Cluster: a slot taken back from the target
 * mid-move is moved again before the record changes owner; a cancel mid-move returns the
 * slots already moved and leaves the shard where it was; a shard holding a key above the
 * big-key limit is refused with nothing changed, and moved when big keys are allowed; a move
 * crawling at 1 key/s speeds up when the operator raises keys/s live.
 *
 * The Redis cluster is shared by the tests, so each one starts clean whatever the one before
 * did: afterEach aborts and awaits the executor a test started (a test that times out must not
 * keep moving slots), beforeEach closes any slot left open (or fails naming it) and records
 * the cluster in a fresh etcd namespace, so no move record or executor lock carries over.
 * Shards are 16 slots: every slot of a move costs round trips, and 256-slot shards made one
 * test take minutes at load.
 */

const SLOTS_PER_SHARD = 16
const available = await redisAvailable()
const file = useRedisCluster('redis-moves', available)

let running: RunningExecutor | undefined

const input = (over: Partial<ApplyInput> = {}): ApplyInput => ({limits: {maxConcurrent: 1, perNode: 1}, throttle: null, nodeThrottle: null, options: DEFAULT_EXECUTOR_OPTIONS, confirm: async () => true, holder: 'test', ...over})

/** startExecutor runs executePlan in-process (every move recorded in etcd); afterEach aborts and awaits it. */
function startExecutor(over: Partial<ApplyInput> = {}, emit: (e: ExecutorEvent) => void = () => {}): Promise<ApplyResult> {
  const abort = new AbortController()
  const done = executePlan(file.ctx, input(over), {now: () => Date.now(), sleep: (ms, s) => sleepFor(ms, undefined, {signal: s}).catch(() => {}), emit}, abort.signal)
  running = {abort, done: done.catch(() => {})}
  return done
}

beforeEach(async () => {
  if (!available) return
  const open = await openSlotMarks(file.masters)
  if (open.length > 0) {
    await fixOpenSlots(file.redis.seed, false)
    const still = await openSlotMarks(file.masters)
    if (still.length > 0) throw new Error(`the shared Redis cluster has slots still open after \`redis fix\`: ${still.map((o) => `${o.slot} ${o.state} on ${o.node}`).join(', ')}`)
  }
  await file.freshNamespace(SLOTS_PER_SHARD)
  const holder = await file.ctx.store.get(file.ctx.keys.executorLock)
  if (holder) throw new Error(`the executor lock of a fresh namespace is held: ${holder.value}`)
}, 120_000)

abortExecutorAfterEach(() => {
  const r = running
  running = undefined
  return r
})

async function recordMove(id: string, shard: Shard, to: string): Promise<void> {
  const at = new Date().toISOString()
  const move: Move = {id, plan: 'by-hand', index: 0, shard: shard.id, from: ownerNode(shard), to, baseEpoch: shard.epoch, epoch: shard.epoch, phase: 'pending', progress: {bytes: 0, keys: 0, totalBytes: 0, rateBytesPerSec: 0, dataRateBytesPerSec: 0, cursor: null, stalled: false}, cancelRequested: false, rollbackRequested: false, reason: null, attempts: 0, createdAt: at, updatedAt: at, cutoverAt: null, copyStartedAt: null}
  await file.ctx.store.put(file.ctx.keys.move(id), JSON.stringify(move))
}

function ownerNode(shard: Shard): string {
  const node = shard.replicas[0]?.node
  if (!node) throw new Error(`shard ${shard.id} has no replica`)
  return node
}

/** pickMove returns the `index`th shard of the fresh record, its owner and another master to move it to. */
async function pickMove(index: number): Promise<{shard: Shard; from: string; to: string; first: number; end: number}> {
  const {shards} = await listShards(file.ctx)
  const shard = shards[index]?.value
  if (!shard) throw new Error(`no shard ${index}`)
  const from = ownerNode(shard)
  const to = file.masters.find((m) => m.node !== from)?.node
  if (!to) throw new Error('no second master')
  return {shard, from, to, ...slotsOfRange(shard.range)}
}

async function writeKeys(keys: readonly string[]): Promise<void> {
  await Promise.all(keys.map((k) => file.client.set(k, `${k}:v`)))
}

/** waitOwner polls until `node` serves `slot`; it gives up once the test's executor was aborted (the test timed out), so a late test body does not act on the next test's cluster. */
async function waitOwner(slot: number, node: string): Promise<void> {
  const deadline = Date.now() + 60_000
  while ((await ownerOf(file.masters, slot)) !== node) {
    if (running?.abort.signal.aborted !== false) throw new Error(`stopped waiting for slot ${slot}: the test's executor was aborted`)
    if (Date.now() > deadline) throw new Error(`slot ${slot} did not reach ${node} within 60 s`)
    await sleepFor(100)
  }
}

/**
 * expectShardSettled checks the end state of a move, as `plan` and a client see it: the
 * shard record names `owner`, `owner` serves every slot of the shard by its own view, no
 * slot is open anywhere, and every key reads its written value.
 */
async function expectShardSettled(shard: Shard, owner: string, keys: readonly string[]): Promise<Shard> {
  const after = (await listShards(file.ctx)).shards.find((s) => s.value.id === shard.id)?.value
  expect(after?.replicas).toEqual([{node: owner, role: 'voter'}])
  const {first, end} = slotsOfRange(shard.range)
  const served = await servedSlots(file.master(owner))
  expect(Array.from({length: end - first}, (_, i) => first + i).filter((slot) => !served.has(slot))).toEqual([])
  expect(await openSlotMarks(file.masters)).toEqual([])
  expect(await Promise.all(keys.map((k) => file.client.get(k)))).toEqual(keys.map((k) => `${k}:v`))
  return after!
}

describe.skipIf(!available)('redis move runner under the executor', () => {
  it('a slot that leaves the target after it was moved there is moved again before the shard record changes owner', async () => {
    const {shard, from, to, first, end} = await pickMove(4)
    const [early, late] = tagsInSlots(first, end, 2)
    if (!early || !late) throw new Error('no two slots found in the shard')
    // Few keys in the early slot, many in the late one: at 16 KiB/s the late slot takes
    // seconds, so the early slot is taken back while the move is still running.
    const keys = [...Array.from({length: 50}, (_, j) => `{${early.tag}}:${j}`), ...Array.from({length: 2000}, (_, j) => `{${late.tag}}:${j}`)]
    await writeKeys(keys)
    await recordMove('lost-slot', shard, to)
    const result = startExecutor({throttle: 16 * 1024})
    await waitOwner(early.slot, to)
    await moveSlotByHand(file.masters, early.slot, file.master(to), file.master(from))
    expect(await ownerOf(file.masters, early.slot)).toBe(from)
    // The slot was lost while the move was still running: otherwise this test proves nothing.
    expect((await getMove(file.ctx, 'lost-slot')).value.phase).toBe('copying')
    expect((await result).moves).toEqual([expect.objectContaining({id: 'lost-slot', phase: 'done'})])
    await expectShardSettled(shard, to, keys)
  }, 120_000)

  it('a cancel mid-move brings the slots already moved back to the source; the shard record is unchanged', async () => {
    const {shard, from, to, first, end} = await pickMove(1)
    const tags = tagsInSlots(first, end, 2)
    const keys = tags.flatMap(({tag}) => Array.from({length: 300}, (_, j) => `{${tag}}:${j}`))
    await writeKeys(keys)
    await recordMove('cancel-me', shard, to)
    // 16 KiB/s: the first tag's slot takes seconds, so the cancel lands between the two.
    const result = startExecutor({throttle: 16 * 1024})
    await waitOwner(tags[0]!.slot, to)
    expect((await requestCancel(file.ctx, 'cancel-me')).changed).toBe(true)
    expect((await result).moves).toEqual([expect.objectContaining({id: 'cancel-me', phase: 'aborted'})])
    expect((await getMove(file.ctx, 'cancel-me')).value.reason).toMatch(/cancelled/)
    expect(await ownerOf(file.masters, tags[1]!.slot)).toBe(from)
    expect(await expectShardSettled(shard, from, keys)).toEqual(shard)
  }, 120_000)

  it('refuses a shard with a key above the big-key limit before changing anything, and moves it with allowBigKeys', async () => {
    const {shard, from, to, first, end} = await pickMove(2)
    const [{tag, slot}] = tagsInSlots(first, end, 1) as [{tag: string; slot: number}]
    await file.client.set(`{${tag}}:big`, 'b'.repeat(1024 * 1024))
    await recordMove('big-refused', shard, to)
    const refused = await startExecutor({redis: {bigKeyBytes: 512 * 1024}})
    expect(refused.moves).toEqual([expect.objectContaining({id: 'big-refused', phase: 'aborted'})])
    expect((await getMove(file.ctx, 'big-refused')).value.reason).toMatch(new RegExp(`slot ${slot} holds key "\\{${tag}\\}:big" of [0-9.]+ MiB, above the 512 KiB limit.*--allow-big-keys`))
    expect(await expectShardSettled(shard, from, [])).toEqual(shard)

    await recordMove('big-allowed', shard, to)
    const moved = await startExecutor({redis: {bigKeyBytes: 512 * 1024, allowBigKeys: true}})
    expect(moved.moves).toEqual([expect.objectContaining({id: 'big-allowed', phase: 'done'})])
    expect((await file.client.get(`{${tag}}:big`))?.length).toBe(1024 * 1024)
    expect((await expectShardSettled(shard, to, [])).epoch).toBe(shard.epoch + EPOCH_STEPS.move)
  }, 120_000)

  it('follows a live keys/s change: a move held to 1 key/s finishes once the operator raises it', async () => {
    const {shard, to, first, end} = await pickMove(3)
    const [{tag}] = tagsInSlots(first, end, 1) as [{tag: string; slot: number}]
    const keys = Array.from({length: 400}, (_, j) => `{${tag}}:${j}`)
    await writeKeys(keys)
    await recordMove('keys-live', shard, to)
    const events: ExecutorEvent[] = []
    const result = startExecutor({redis: {keysPerSec: 1, keysPerBatch: 4}}, (e) => events.push(e))
    const progressKeys = () => events.flatMap((e) => (e.type === 'progress' ? [e.keys ?? 0] : []))
    // At 1 key/s the 400 keys would take over six minutes; wait for the first batches to go.
    const deadline = Date.now() + 60_000
    while (progressKeys().length === 0) {
      if (Date.now() > deadline) throw new Error('no batch went within 60 s')
      await sleepFor(100)
    }
    expect(Math.max(...progressKeys())).toBeLessThan(200)
    expect((await setKeysThrottle(file.ctx, 100_000)).changed).toBe(true)
    expect((await result).moves).toEqual([expect.objectContaining({id: 'keys-live', phase: 'done'})])
    expect(events.some((e) => e.type === 'info' && /keys\/s now 100000/.test(e.message))).toBe(true)
    await expectShardSettled(shard, to, keys)
    expect((await setKeysThrottle(file.ctx, 100_000)).changed).toBe(false)
  }, 120_000)

  it('moves a 256-slot shard of mostly empty slots in batches, keys written into its empty slots during the move included', async () => {
    // Re-recorded with 256-slot shards: 248 of the shard's slots start empty, so the runner takes them in pipelined runs.
    await file.freshNamespace(256)
    const {shard, to, first, end} = await pickMove(1)
    const keys = tagsInSlots(first, end, 8).flatMap(({tag}) => Array.from({length: 20}, (_, j) => `{${tag}}:${j}`))
    await writeKeys(keys)
    await recordMove('empty-runs', shard, to)
    const events: ExecutorEvent[] = []
    const result = startExecutor({}, (e) => events.push(e))
    // A writer puts new keys into every slot of the shard while it moves, empty ones included: a key that lands
    // between a run's count and its MIGRATING mark must be migrated, not left behind (SETSLOT NODE would refuse it).
    const writerTags = tagsInSlots(first, end, end - first, 'w')
    const written: string[] = []
    let moving = true
    void result.finally(() => (moving = false))
    for (let round = 0; moving && round < 40; round++) {
      const batch = writerTags.map(({tag}) => `{${tag}}:${round}`)
      await writeKeys(batch)
      written.push(...batch)
    }
    expect((await result).moves).toEqual([expect.objectContaining({id: 'empty-runs', phase: 'done'})])
    expect(written.length).toBeGreaterThan(0)
    await expectShardSettled(shard, to, [...keys, ...written])
    expect(events.filter((e) => e.type === 'retry')).toEqual([])
  }, 180_000)
})
