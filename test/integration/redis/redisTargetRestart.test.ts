import {describe, expect, it} from 'vitest'
import {type ExecutorEvent} from '../../../src/executor/executorEnv.js'
import {crashAndRestart, openSlotMarks, redisAvailable, servedSlots, tagsInSlots} from '../../support/redisCluster.js'
import {countAt, poll} from '../../support/redisFailover.js'
import {RedisWorkload} from '../../support/redisWorkload.js'
import {inProcessApplyOf, useRedisCluster} from '../../support/redisTestFile.js'

/**
 * The target of a move SIGKILLed mid-slot and restarted from its own append-only file, while
 * clients write every key of the shard through the cluster (MOVED/ASK). Its nodes.conf brings it
 * back IMPORTING the open slot, its AOF with every key migrated to it (and every write clients
 * made there through ASK); the MIGRATE in flight fails, the source keeping its copies. The
 * executor retries the run, which must finish the slot and the move with every acknowledged
 * write reading back. No replicas: Redis does not fail the target over while it is down (it
 * comes back well within cluster-node-timeout), so what is checked is shardctl's resume, not a
 * failover's loss.
 */

const SERVER_ARGS = ['--appendonly', 'yes', '--appendfsync', 'always']
const available = await redisAvailable()
const file = useRedisCluster('redis-target-restart', available, {masters: 3, replicasPerMaster: 0, slotsPerShard: 128, serverArgs: SERVER_ARGS})
const apply = inProcessApplyOf(file)

describe.skipIf(!available)('the target restarted from its AOF mid-slot, clients writing', () => {
  it('the move finishes and every acknowledged write reads back', async () => {
    const {shard, from, to, first, end} = await file.shardToMove(1)
    const tags = tagsInSlots(first, end, 12, 'tr')
    const keys = tags.flatMap(({tag}) => Array.from({length: 20}, (_, j) => `{${tag}}:${j}`))
    const pad = 'x'.repeat(1024)
    await Promise.all(keys.map((k) => file.client.set(k, `${k}=0${pad}`)))
    await file.recordPendingMove('target-restart', shard, from, to)
    const events: ExecutorEvent[] = []
    const work = new RedisWorkload(file.client, keys, 4, 20_000)
    // 40 keys a second, 5 a batch: the crash lands with a slot open and part of it on the target.
    const run = apply({redis: {keysPerBatch: 5, keysPerSec: 40}, sleepCapMs: 200, emit: (e) => events.push(e)})
    try {
      const mid = tags[3]!.slot
      await poll('a slot half-migrated', async () => ((await countAt(to.address, mid)) > 0 ? true : undefined), 30_000)
      await crashAndRestart(file.redis, to.address, SERVER_ARGS)
      const result = await run
      expect(result.moves.find((m) => m.id === 'target-restart')?.phase, JSON.stringify(events.filter((e) => e.type === 'retry' || e.type === 'phase'))).toBe('done')
    } finally {
      await work.stop()
    }
    expect(await openSlotMarks(file.masters)).toEqual([])
    const served = await servedSlots(to)
    expect(Array.from({length: end - first}, (_, i) => first + i).filter((s) => !served.has(s))).toEqual([])
    expect(work.ops).toBeGreaterThan(100)
    expect(await work.lost(file.client)).toEqual([])
    for (const k of keys.filter((k) => !work.last.has(k))) expect(await file.client.get(k)).toBe(`${k}=0${pad}`)
  }, 90_000)
})
