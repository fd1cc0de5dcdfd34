import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {setTimeout as sleepFor} from 'node:timers/promises'
import {afterAll, beforeAll, describe, expect, inject, it} from 'vitest'
import {listShards} from '../../src/cluster/clusterRepo.js'
import {type Move, MoveSchema} from '../../src/model/move.js'
import {type Shard} from '../../src/model/shard.js'
import {slotsOfRange} from '../../src/redis/slotMap.js'
import {type CliChild, spawnCli} from '../support/cliChild.js'
import {countAt, poll} from '../support/redisFailover.js'
import {openSlotMarks, redisAvailable, servedSlots, tagsInSlots} from '../support/redisCluster.js'
import {useRedisCluster} from '../support/redisTestFile.js'
import {RedisWorkload} from '../support/redisWorkload.js'
import {changingCommandsSent, sentSince} from '../support/redisCommandStats.js'
import {runCli} from '../support/runCli.js'

/**
 * A frozen executor must not change the Redis Cluster after it lost its etcd lock.
 *
 * `apply` (the real process from dist/) moves a shard whose first slot holds 800 keys, slowly
 * (10-key MIGRATE batches at 100 keys/s, so the runner spends most of its time between
 * batches, the slot open on both sides), under a bounded client load through a cluster-aware
 * client. Once keys are on both sides it is SIGSTOPped (a GC pause, a VM stall) past its
 * lease (10 s TTL), and `apply --resume` takes over (the documented way on from an executor
 * that stopped) and finishes the move. Then the frozen one gets SIGCONT. Every master's INFO
 * commandstats counts each side-effecting command (MIGRATE, CLUSTER SETSLOT, CONFIG SET) it
 * received from then on, refused ones included (MONITOR shows only those that ran): nothing
 * else changes the cluster after the takeover ended, so any is the woken one's.
 * Checked: (a) every acknowledged SET reads back, (b) no slot is open and every slot of the
 * shard is served by the target, the only master that claims it, (c) the woken executor sent
 * nothing that changes the cluster, and said that it lost the lock.
 */

const available = await redisAvailable()
const file = useRedisCluster('redis-frozen', available)
let cwd: string
beforeAll(() => {
  cwd = mkdtempSync(join(tmpdir(), 'shardctl-redis-frozen-'))
})
afterAll(() => {
  if (cwd) rmSync(cwd, {recursive: true, force: true})
})

const cli = (args: string[], timeoutMs = 90_000) => runCli([...args, '--endpoints', inject('etcdEndpoint'), '--cluster', file.ctx.cluster], {cwd, timeoutMs})

async function recordMove(id: string, shard: Shard, to: string): Promise<void> {
  const at = new Date().toISOString()
  const move: Move = {id, plan: 'by-hand', index: 0, shard: shard.id, from: shard.replicas[0]!.node, to, baseEpoch: shard.epoch, epoch: shard.epoch, phase: 'pending', progress: {bytes: 0, keys: 0, totalBytes: 0, rateBytesPerSec: 0, dataRateBytesPerSec: 0, cursor: null, stalled: false}, cancelRequested: false, rollbackRequested: false, reason: null, attempts: 0, createdAt: at, updatedAt: at, cutoverAt: null, copyStartedAt: null}
  await file.ctx.store.put(file.ctx.keys.move(id), JSON.stringify(move))
}

async function resumeUntilLockFree(): Promise<{code: number; out: string}> {
  // The frozen executor's lease (10 s TTL) lapses first: LOCK_HELD (exit 8) until then.
  for (let i = 0; ; i++) {
    const r = await cli(['apply', '--resume', '--yes'])
    if (r.code !== 8 || i >= 30) return {code: r.code, out: r.stdout + r.stderr}
    await sleepFor(1000)
  }
}

describe.skipIf(!available)('an executor frozen past its lease mid-slot, then taken over', () => {
  it('sends nothing to Redis once it wakes, and no acknowledged write is lost', async () => {
    await file.freshNamespace(16)
    const shard = (await listShards(file.ctx)).shards[1]!.value
    const src = file.master(shard.replicas[0]!.node)
    const dst = file.masters.find((m) => m !== src)!
    const {first, end} = slotsOfRange(shard.range)
    const [hot, ...rest] = tagsInSlots(first, end, 4, 'frz')
    const keys = [...Array.from({length: 800}, (_, j) => `{${hot!.tag}}:${j}`), ...rest.flatMap(({tag}) => Array.from({length: 20}, (_, j) => `{${tag}}:${j}`)), ...Array.from({length: 50}, (_, j) => `elsewhere:${j}`)]
    await Promise.all(keys.map((k) => file.client.set(k, `${k}=0`)))
    await recordMove('frozen-1', shard, dst.node)

    const addresses = file.masters.map((m) => m.address)
    const work = new RedisWorkload(file.client, keys, 4, 200_000)
    let frozen: CliChild | undefined
    try {
      frozen = spawnCli(['apply', '--resume', '--yes', '--keys-per-sec', '100', '--batch-keys', '10', '--endpoints', inject('etcdEndpoint'), '--cluster', file.ctx.cluster])
      await poll('the hot slot open with keys on both sides', async () => ((await countAt(dst.address, hot!.slot)) >= 20 ? true : undefined))
      expect(await countAt(src.address, hot!.slot)).toBeGreaterThan(0)
      frozen.signal('SIGSTOP')

      // The takeover: waits out the frozen executor's lease, then finishes the move.
      const resumed = await resumeUntilLockFree()
      expect(resumed.code, resumed.out).toBe(0)
      const done = MoveSchema.parse(JSON.parse((await file.ctx.store.get(file.ctx.keys.move('frozen-1')))!.value))
      expect(done.phase).toBe('done')
      // Nothing else sends these from here on: the takeover exited, the client load only reads and writes keys.
      const before = await changingCommandsSent(addresses)
      frozen.signal('SIGCONT')
      const exit = await Promise.race([frozen.exited, sleepFor(60_000).then(() => 'still running')])
      const after = await changingCommandsSent(addresses)
      // (c) nothing that changes the cluster was sent after it woke (counted even when Redis refused it).
      expect(sentSince(before, after), `the woken executor's output:\n${frozen.stdout().slice(-1500)}${frozen.logs().slice(-1500)}`).toEqual([])
      expect(exit).not.toBe('still running')
      expect(frozen.logs() + frozen.stdout()).toMatch(/lost (its|the executor) lock|lease lost/)
    } finally {
      frozen?.signal('SIGCONT')
      await frozen?.kill()
      await work.stop()
    }
    // (a) every acknowledged write reads back.
    expect(work.errors.slice(0, 5)).toEqual([])
    expect(work.ops).toBeGreaterThan(100)
    const values = await Promise.all(keys.map((k) => file.client.get(k)))
    expect(keys.filter((k, i) => values[i] !== (work.last.get(k) ?? `${k}=0`))).toEqual([])
    // (b) no slot open; the target serves every slot of the shard and no other master claims one.
    expect(await openSlotMarks(file.masters)).toEqual([])
    expect([...(await servedSlots(dst))].filter((s) => s >= first && s < end)).toHaveLength(end - first)
    for (const m of file.masters.filter((x) => x !== dst)) expect([...(await servedSlots(m))].filter((s) => s >= first && s < end)).toEqual([])
  }, 180_000)
})
