import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, inject, it} from 'vitest'
import {setPaused, setThrottle} from '../../../src/executor/controlService.js'
import {getMove, requestCancel} from '../../../src/executor/moveStore.js'
import {withRedisNode} from '../../../src/redis/redisConnection.js'
import {openSlotMarks, redisAvailable, servedSlots, tagsInSlots} from '../../support/redisCluster.js'
import {countAt, poll} from '../../support/redisFailover.js'
import {inProcessApplyOf, useRedisCluster} from '../../support/redisTestFile.js'
import {runCli} from '../../support/runCli.js'

/**
 * What a redis move used to look at only between slots or before its first: the big-key limit
 * (scanned once, before the first slot: a key written later went in one MIGRATE, blocking both
 * masters), and a batch's throttle wait (one sleep of the whole wait, a big key at a low rate
 * taking minutes: `throttle set` raising the rate did not shorten it, and `moves pause` during
 * it did not hold its MIGRATE). Real redis-server processes; each test moves another shard.
 */

const available = await redisAvailable()
const file = useRedisCluster('redis-mid-move-controls', available, {masters: 3, replicasPerMaster: 0, slotsPerShard: 16})
const apply = inProcessApplyOf(file)

/** onSource tells whether the master at `address` holds `key` itself (it owns the key's slot, maybe MIGRATING). */
const onSource = (address: string, key: string) => withRedisNode(address, async (r) => (await r.call('EXISTS', key)) === 1)

let cwd: string
beforeAll(() => {
  cwd = mkdtempSync(join(tmpdir(), 'shardctl-redis-mid-move-'))
})
afterAll(() => {
  if (cwd) rmSync(cwd, {recursive: true, force: true})
})
const cli = (args: string[]) => runCli([...args, '--endpoints', inject('etcdEndpoint'), '--cluster', file.ctx.cluster], {cwd, timeoutMs: 60_000})

describe.skipIf(!available)('checks a redis move makes between batches', () => {
  it('a key above the big-key limit written after the scan is not migrated: the move fails naming it, and resumes with --allow-big-keys', async () => {
    const {shard, from, to, first, end} = await file.shardToMove(2)
    const tags = tagsInSlots(first, end, 4, 'bl')
    await Promise.all(tags.flatMap(({tag}) => Array.from({length: 10}, (_, j) => `{${tag}}:${j}`)).map((k) => file.client.set(k, `${k}=0`)))
    await file.recordPendingMove('big-later', shard, from, to)
    // 10 keys a second, 2 a batch: the scan is long over when the big key is written, its slot not yet reached.
    const run = apply({redis: {keysPerBatch: 2, keysPerSec: 10, bigKeyBytes: 64 * 1024}, sleepCapMs: 200})
    await poll('the first slot under way', async () => ((await countAt(to.address, tags[0]!.slot)) > 0 ? true : undefined), 30_000)
    const bigKey = `{${tags[3]!.tag}}:big`
    const big = 'B'.repeat(200 * 1024)
    await file.client.set(bigKey, big)
    const move = (await run).moves.find((m) => m.id === 'big-later')!
    expect(move.phase).toBe('failed')
    expect(move.reason).toMatch(new RegExp(`^slot ${tags[3]!.slot} holds key "\\{${tags[3]!.tag}\\}:big" of .* above the 64\\.0 ?KiB limit, written since the move began.*--allow-big-keys`))
    expect(await onSource(from.address, bigKey)).toBe(true)
    // The way out it names.
    expect((await apply({redis: {bigKeyBytes: 64 * 1024, allowBigKeys: true}})).moves.find((m) => m.id === 'big-later')?.phase).toBe('done')
    expect(await file.client.get(bigKey)).toBe(big)
    expect(await openSlotMarks(file.masters)).toEqual([])
  }, 90_000)

  it('a throttle raised while a big key waits for its turn lets its MIGRATE go at the new rate', async () => {
    const {shard, from, to, first, end} = await file.shardToMove(3)
    const {tag, slot} = tagsInSlots(first, end, 1, 'bt')[0]!
    const key = `{${tag}}:big`
    await file.client.set(key, 'T'.repeat(4 * 1024 * 1024))
    await setThrottle(file.ctx, 64 * 1024) // 4 MiB at 64 KiB/s: a wait of about a minute
    try {
      await file.recordPendingMove('throttle-raise', shard, from, to)
      const run = apply({redis: {allowBigKeys: true}})
      await poll('the big key\'s slot open', async () => ((await openSlotMarks([from])).some((m) => m.slot === slot) ? true : undefined), 30_000)
      await setThrottle(file.ctx, 1024 * 1024 * 1024)
      // Well within the minute the first reservation asked for.
      await poll('the big key migrated', async () => ((await countAt(from.address, slot)) === 0 ? true : undefined), 20_000)
      expect((await run).moves.find((m) => m.id === 'throttle-raise')?.phase).toBe('done')
      expect(await countAt(to.address, slot)).toBe(1)
    } finally {
      await setThrottle(file.ctx, null)
    }
  }, 90_000)

  it('a pause during a big key\'s throttle wait holds its MIGRATE until resumed', async () => {
    const {shard, from, first, end} = await file.shardToMove(4)
    const {tag, slot} = tagsInSlots(first, end, 1, 'bp')[0]!
    const key = `{${tag}}:big`
    await file.client.set(key, 'P'.repeat(256 * 1024))
    await setThrottle(file.ctx, 64 * 1024) // 256 KiB at 64 KiB/s: a wait of about 4 s
    try {
      await file.recordPendingMove('pause-wait', shard, from, file.masters.find((m) => m.node !== from.node)!)
      const run = apply({redis: {allowBigKeys: true}})
      await poll('the big key\'s slot open', async () => ((await openSlotMarks([from])).some((m) => m.slot === slot) ? true : undefined), 30_000)
      await setPaused(file.ctx, true)
      // Past the end of the wait (with room for a loaded machine), the key has not left: the pause holds it.
      await new Promise((res) => setTimeout(res, 8000))
      expect(await countAt(from.address, slot)).toBe(1)
      await setPaused(file.ctx, false)
      expect((await run).moves.find((m) => m.id === 'pause-wait')?.phase).toBe('done')
      expect(await countAt(from.address, slot)).toBe(0)
    } finally {
      await setPaused(file.ctx, false)
      await setThrottle(file.ctx, null)
    }
  }, 90_000)

  it('a move cancelled, then failed at a big key before any key of its open slot moved, ends aborted on apply --resume: the slot closed back, the big key not migrated', async () => {
    // The cancel came while the move copied, the big key (written since the scan) was met first:
    // the move failed with the slot open and the cancel recorded. Every resume without
    // --allow-big-keys stopped at the key again, within its first second, before it looked at
    // the cancel: the operator could only move the key forward (blocking both masters, what the
    // limit is for) for the cancel to move it back.
    const {shard, from, to, first} = await file.shardToMove(6)
    const {tag} = tagsInSlots(first, first + 1, 1, 'bf')[0]!
    const bigKey = `{${tag}}:big`
    const big = 'F'.repeat(200 * 1024)
    await file.client.set(bigKey, big)
    await file.client.set(`{${tag}}:small`, 'small')
    const move = await file.recordPendingMove('cancel-big-failed', shard, from, to)
    // As the runner leaves it: the slot open on both sides, the cursor at it, the move failed with the cancel recorded.
    await withRedisNode(to.address, (r) => r.call('CLUSTER', 'SETSLOT', first, 'IMPORTING', from.redisId))
    await withRedisNode(from.address, (r) => r.call('CLUSTER', 'SETSLOT', first, 'MIGRATING', to.redisId))
    const failed = {...move, phase: 'failed', cancelRequested: true, reason: `slot ${first} holds key "${bigKey}" of 200 KiB, above the 64 KiB limit, written since the move began`, progress: {...move.progress, cursor: JSON.stringify({dir: 'fwd', next: first, open: true})}}
    await file.ctx.store.put(file.ctx.keys.move(move.id), JSON.stringify(failed))
    const after = (await apply({redis: {bigKeyBytes: 64 * 1024}, sleepCapMs: 200})).moves.find((m) => m.id === 'cancel-big-failed')
    expect([after?.phase, after?.reason]).toEqual(['aborted', 'cancelled by operator'])
    expect(await onSource(from.address, bigKey)).toBe(true)
    expect(await countAt(to.address, first)).toBe(0)
    expect(await openSlotMarks(file.masters)).toEqual([])
    expect(await file.client.get(bigKey)).toBe(big)
  }, 90_000)

  it('the way out a big-key failure names works through the real binary: apply --resume refuses again (exit 1), apply --resume --allow-big-keys moves the key', async () => {
    const {shard, from, to, first} = await file.shardToMove(7)
    const {tag} = tagsInSlots(first, first + 1, 1, 'bw')[0]!
    const bigKey = `{${tag}}:big`
    const big = 'W'.repeat(200 * 1024)
    await file.client.set(bigKey, big)
    const move = await file.recordPendingMove('big-way-out', shard, from, to)
    // As failOnBigKey leaves it: the slot open on both sides, the cursor at it, the move failed.
    await withRedisNode(to.address, (r) => r.call('CLUSTER', 'SETSLOT', first, 'IMPORTING', from.redisId))
    await withRedisNode(from.address, (r) => r.call('CLUSTER', 'SETSLOT', first, 'MIGRATING', to.redisId))
    const failed = {...move, phase: 'failed', reason: 'big key', progress: {...move.progress, cursor: JSON.stringify({dir: 'fwd', next: first, open: true})}}
    await file.ctx.store.put(file.ctx.keys.move(move.id), JSON.stringify(failed))
    const again = await cli(['apply', '--resume', '--yes', '--big-key-limit', '64KiB'])
    expect([again.code, (await getMove(file.ctx, move.id)).value.phase]).toEqual([1, 'failed'])
    expect(again.stdout).toMatch(/--allow-big-keys/)
    const out = await cli(['apply', '--resume', '--yes', '--big-key-limit', '64KiB', '--allow-big-keys'])
    expect([out.code, (await getMove(file.ctx, move.id)).value.phase]).toEqual([0, 'done'])
    expect(await onSource(to.address, bigKey)).toBe(true)
    expect(await openSlotMarks(file.masters)).toEqual([])
    expect(await file.client.get(bigKey)).toBe(big)
  }, 120_000)

  it('a cancel during a slot\'s first throttle wait closes the slot back on the source, no key moved, and the move ends aborted', async () => {
    const {shard, from, to, first, end} = await file.shardToMove(5)
    const {tag, slot} = tagsInSlots(first, end, 1, 'bc')[0]!
    const key = `{${tag}}:big`
    await file.client.set(key, 'C'.repeat(4 * 1024 * 1024))
    await setThrottle(file.ctx, 64 * 1024) // 4 MiB at 64 KiB/s: a wait of about a minute
    try {
      await file.recordPendingMove('cancel-wait', shard, from, to)
      const run = apply({redis: {allowBigKeys: true}})
      await poll('the big key\'s slot open', async () => ((await openSlotMarks([from])).some((m) => m.slot === slot) ? true : undefined), 30_000)
      await requestCancel(file.ctx, 'cancel-wait')
      // Well within the minute the wait asked for.
      await poll('the move aborted', async () => ((await getMove(file.ctx, 'cancel-wait')).value.phase === 'aborted' ? true : undefined), 20_000)
      expect((await run).moves.find((m) => m.id === 'cancel-wait')?.phase).toBe('aborted')
      expect(await countAt(from.address, slot)).toBe(1)
      expect(await countAt(to.address, slot)).toBe(0)
      expect(await openSlotMarks(file.masters)).toEqual([])
      const served = await servedSlots(from)
      expect(Array.from({length: end - first}, (_, i) => first + i).filter((s) => !served.has(s))).toEqual([])
      expect(await file.client.get(key)).toHaveLength(4 * 1024 * 1024)
    } finally {
      await setThrottle(file.ctx, null)
    }
  }, 90_000)
})
