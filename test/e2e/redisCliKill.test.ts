import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {setTimeout as sleepFor} from 'node:timers/promises'
import {afterAll, beforeAll, describe, expect, inject, it} from 'vitest'
import {listShards} from '../../src/cluster/clusterRepo.js'
import {type Move, MoveSchema} from '../../src/model/move.js'
import {type Shard} from '../../src/model/shard.js'
import {shortNodeId} from '../../src/redis/clusterNodes.js'
import {withRedisNode} from '../../src/redis/redisConnection.js'
import {slotsOfRange} from '../../src/redis/slotMap.js'
import {type CliChild, spawnCli} from '../support/cliChild.js'
import {expireDeadExecutorLock} from '../support/deadExecutorLock.js'
import {openSlotMarks, redisAvailable, type RedisMaster, servedSlots, tagsInSlots} from '../support/redisCluster.js'
import {useRedisCluster} from '../support/redisTestFile.js'
import {runCli} from '../support/runCli.js'
import {RedisWorkload as Workload} from '../support/redisWorkload.js'

/**
 * `shardctl apply` on the redis engine, SIGKILLed as a real process with a slot open, at three
 * points of the slot's migration, then `apply --resume`, under a steady client load through a
 * cluster-aware client (ioredis, MOVED/ASK): keys on both sides between MIGRATE batches; every
 * key on the target with neither SETSLOT NODE sent; the target's SETSLOT NODE sent and the
 * source's not. The last two points are reached deterministically by taking `CLUSTER SETSLOT`
 * away from the default user on one master with ACL once the slot is open: the runner stops
 * there (retrying), is killed, and the ACL is restored before the resume. Afterwards every
 * key reads its last acknowledged value, no client request failed, no slot is open, and etcd's
 * shard records agree with CLUSTER SLOTS of every master for every slot. In between, `cluster
 * status` and `moves list` answer and show the move still copying.
 */

const available = await redisAvailable()
const file = useRedisCluster('redis-cli-kill', available)
let cwd: string
beforeAll(() => {
  cwd = mkdtempSync(join(tmpdir(), 'shardctl-redis-kill-'))
})
afterAll(() => {
  if (cwd) rmSync(cwd, {recursive: true, force: true})
})

const cli = (args: string[], timeoutMs = 90_000) => runCli([...args, '--endpoints', inject('etcdEndpoint'), '--cluster', file.ctx.cluster], {cwd, timeoutMs})

async function poll<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const v = await fn()
    if (v !== undefined && v !== false) return v
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleepFor(20)
  }
}

const countAt = (m: RedisMaster, slot: number) => withRedisNode(m.address, async (r) => Number(await r.call('CLUSTER', 'COUNTKEYSINSLOT', String(slot))))
const setslotAllowed = (m: RedisMaster, allowed: boolean) => withRedisNode(m.address, (r) => r.call('ACL', 'SETUSER', 'default', allowed ? '+cluster|setslot' : '-cluster|setslot'))

async function recordMove(id: string, shard: Shard, to: string): Promise<void> {
  const at = new Date().toISOString()
  const move: Move = {id, plan: 'by-hand', index: 0, shard: shard.id, from: shard.replicas[0]!.node, to, baseEpoch: shard.epoch, epoch: shard.epoch, phase: 'pending', progress: {bytes: 0, keys: 0, totalBytes: 0, rateBytesPerSec: 0, dataRateBytesPerSec: 0, cursor: null, stalled: false}, cancelRequested: false, rollbackRequested: false, reason: null, attempts: 0, createdAt: at, updatedAt: at, cutoverAt: null, copyStartedAt: null}
  await file.ctx.store.put(file.ctx.keys.move(id), JSON.stringify(move))
}

/** ownersBySlots is slot → owner (short id) by one master's CLUSTER SLOTS. */
async function ownersBySlots(m: RedisMaster): Promise<Map<number, string>> {
  const reply = (await withRedisNode(m.address, (r) => r.call('CLUSTER', 'SLOTS'))) as [number, number, [string, number, string], ...unknown[]][]
  const out = new Map<number, string>()
  for (const [lo, hi, master] of reply) for (let s = lo; s <= hi; s++) out.set(s, shortNodeId(master[2]))
  return out
}

/** expectEtcdMatchesRedis checks that every master's CLUSTER SLOTS names, for every slot, the node etcd's shard record names. */
async function expectEtcdMatchesRedis(): Promise<void> {
  const {shards} = await listShards(file.ctx)
  const recorded = new Map<number, string>()
  for (const s of shards) {
    const {first, end} = slotsOfRange(s.value.range)
    for (let slot = first; slot < end; slot++) recorded.set(slot, s.value.replicas[0]!.node)
  }
  expect(recorded.size).toBe(16384)
  for (const m of file.masters) {
    const seen = await ownersBySlots(m)
    const differ = [...recorded].filter(([slot, node]) => seen.get(slot) !== node)
    expect(differ.slice(0, 5), `CLUSTER SLOTS of ${m.node} against etcd`).toEqual([])
  }
}

async function resume(): Promise<{code: number; out: string}> {
  // The killed executor's lock goes with its lease: revoked here as etcd expires it once its
  // 10 s TTL passes without keepalives (the holder is checked dead). LOCK_HELD (exit 8) while held.
  await expireDeadExecutorLock(file.ctx)
  for (let i = 0; ; i++) {
    const r = await cli(['apply', '--resume', '--yes'])
    if (r.code !== 8 || i >= 20) return {code: r.code, out: r.stdout + r.stderr}
    await sleepFor(1000)
  }
}

type KillPoint = 'between MIGRATE batches' | 'before SETSLOT NODE' | 'between the target and the source SETSLOT NODE'

/**
 * killMidSlot moves shard `index` of a fresh record from its master to another under a client
 * load, SIGKILLs the apply at `point` of the first slot holding keys, resumes, and checks
 * the invariants.
 */
async function killMidSlot(index: number, point: KillPoint): Promise<void> {
  await file.freshNamespace(16)
  const shard = (await listShards(file.ctx)).shards[index]!.value
  const src = file.master(shard.replicas[0]!.node)
  const dst = file.masters.find((m) => m !== src)!
  const {first, end} = slotsOfRange(shard.range)
  const [hot, ...rest] = tagsInSlots(first, end, 4, `k${index}`)
  const keys = [...Array.from({length: 800}, (_, j) => `{${hot!.tag}}:${j}`), ...rest.flatMap(({tag}) => Array.from({length: 20}, (_, j) => `{${tag}}:${j}`)), ...Array.from({length: 50}, (_, j) => `elsewhere${index}:${j}`)]
  await Promise.all(keys.map((k) => file.client.set(k, `${k}=0`)))
  await recordMove(`kill-${index}`, shard, dst.node)

  const work = new Workload(file.client, keys, 4, 200_000)
  let child: CliChild | undefined
  try {
    child = spawnCli(['apply', '--resume', '--yes', '--throttle', '16KiB/s', '--batch-keys', '10', '--endpoints', inject('etcdEndpoint'), '--cluster', file.ctx.cluster])
    await poll('the hot slot open with keys on the target', async () => (await countAt(dst, hot!.slot)) > 0)
    if (point === 'between MIGRATE batches') {
      expect(await countAt(src, hot!.slot)).toBeGreaterThan(0)
    } else {
      const blocked = point === 'before SETSLOT NODE' ? dst : src
      await setslotAllowed(blocked, false)
      await poll('the runner to stop at the blocked SETSLOT', async () => /NOPERM/.test(child!.logs() + child!.stdout()), 90_000)
      expect(await countAt(src, hot!.slot)).toBe(0)
      expect((await servedSlots(dst)).has(hot!.slot)).toBe(point !== 'before SETSLOT NODE')
    }
    await child.kill()
    for (const m of file.masters) await setslotAllowed(m, true)
    expect((await openSlotMarks(file.masters)).length).toBeGreaterThan(0)

    // What the operator sees in between: status and the move list answer; the move is still copying.
    const status = await cli(['cluster', 'status', '--json'])
    expect(status.code, status.stderr).toBe(0)
    const moves = await cli(['moves', 'list', '--json'])
    expect(moves.code, moves.stderr).toBe(0)
    expect(JSON.stringify(JSON.parse(moves.stdout))).toContain('"phase":"copying"')

    const resumed = await resume()
    expect(resumed.code, resumed.out).toBe(0)
  } finally {
    await child?.kill()
    for (const m of file.masters) await setslotAllowed(m, true)
    await work.stop()
  }
  const move = MoveSchema.parse(JSON.parse((await file.ctx.store.get(file.ctx.keys.move(`kill-${index}`)))!.value))
  expect(move.phase).toBe('done')
  expect(work.errors.slice(0, 5)).toEqual([])
  expect(work.ops).toBeGreaterThan(100)
  const values = await Promise.all(keys.map((k) => file.client.get(k)))
  expect(keys.filter((k, i) => values[i] !== (work.last.get(k) ?? `${k}=0`))).toEqual([])
  expect(await openSlotMarks(file.masters)).toEqual([])
  expect([...(await servedSlots(dst))].filter((s) => s >= first && s < end)).toHaveLength(end - first)
  await expectEtcdMatchesRedis()
}

describe.skipIf(!available)('SIGKILL of the apply process mid-slot, then apply --resume, under client load', () => {
  it('killed between MIGRATE batches (keys on both sides)', () => killMidSlot(1, 'between MIGRATE batches'), 120_000)
  it('killed before SETSLOT NODE (every key on the target, the slot open on both)', () => killMidSlot(2, 'before SETSLOT NODE'), 120_000)
  it("killed between the target's and the source's SETSLOT NODE", () => killMidSlot(3, 'between the target and the source SETSLOT NODE'), 120_000)
})
