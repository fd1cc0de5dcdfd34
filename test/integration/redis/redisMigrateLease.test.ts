import {describe, expect, it} from 'vitest'
import {LEASE_TRUSTED_SHARE} from '../../../src/etcd/leaseDeadline.js'
import {type ExecutorEvent} from '../../../src/executor/executorEnv.js'
import {MIGRATE_REPLY_SLACK_MS, SEND_MARGIN_MS} from '../../../src/redis/lockGate.js'
import {withRedisNode} from '../../../src/redis/redisConnection.js'
import {openSlotMarks, redisAvailable} from '../../support/redisCluster.js'
import {inProcessApplyOf, useRedisCluster} from '../../support/redisTestFile.js'
import {countAt, poll, writeKeysInOneSlot} from '../../support/redisFailover.js'

/**
 * A MIGRATE cannot outlast the executor's lease.
 *
 * MIGRATE blocks the source until the target answered or MIGRATE's own timeout elapsed,
 * whatever becomes of the executor that sent it; a successor (`apply --resume`, `redis fix`)
 * may take the slot over once the lease is gone. The move here asks for a 30 s MIGRATE
 * timeout, three times the lease's 10 s TTL, and the target stalls (`DEBUG SLEEP 12`, a slow
 * fork, script or big-key load) while a batch is on its way. Checked from the source's own
 * SLOWLOG (the arguments Redis received) and the executor's events: every MIGRATE went with a
 * timeout under what the lease left (at most 0.9 of the TTL, minus the send margin and the
 * answer's slack), the stalled one gave up on the target itself (IOERR: the keys it had no
 * answer for stay on the source) instead of holding the source until the target woke, and the
 * retried move finishes with every key readable and no slot open. Before, the MIGRATE went
 * with 30000 and held the source for the whole stall.
 */

const available = await redisAvailable()
const file = useRedisCluster('redis-migrate-lease', available, {replicasPerMaster: 0, slotsPerShard: 16, serverArgs: ['--enable-debug-command', 'yes']})

const apply = inProcessApplyOf(file)

/** LOCK_TTL_MS is the executor lock's lease TTL (acquireLock's default, 10 s). */
const LOCK_TTL_MS = 10_000

describe.skipIf(!available)('a MIGRATE to a stalled target while the executor holds its lease', () => {
  it('goes with a timeout within the lease, gives up on the target before the lease ends, and the move finishes with nothing lost', async () => {
    const {shard, from, to, first, end} = await file.shardToMove(0)
    const {slot, keys} = await writeKeysInOneSlot(file.client, {first, end}, 'ml', 12)
    await file.recordPendingMove('migrate-lease', shard, from, to)
    // Only commands slower than 100 ms are logged: the stalled MIGRATE, not the ordinary batches.
    await withRedisNode(from.address, async (r) => {
      await r.call('CONFIG', 'SET', 'slowlog-log-slower-than', '100000')
      await r.call('SLOWLOG', 'RESET')
    })

    const events: ExecutorEvent[] = []
    const done = apply({redis: {migrateTimeoutMs: 30_000, keysPerSec: 5, keysPerBatch: 1}, emit: (e) => events.push(e)})
    await poll('the first keys on the target', async () => ((await countAt(to.address, slot)) >= 2 ? true : undefined), 30_000)
    // Longer than the admin connection's 10 s command timeout: this client gives up on its answer, the target sleeps on.
    const stall = withRedisNode(to.address, (r) => r.call('DEBUG', 'SLEEP', '12')).catch(() => undefined)
    await poll('the run with the stalled MIGRATE to fail and be retried', async () => (events.some((e) => e.type === 'retry') ? true : undefined), 30_000)
    const retry = events.find((e) => e.type === 'retry')
    // The source gave up on the target (its own timeout), not the executor on the source.
    expect(retry && 'error' in retry ? retry.error : '').toMatch(/IOERR/)
    await stall

    const slow = await withRedisNode(from.address, (r) => r.call('SLOWLOG', 'GET', '128') as Promise<[number, number, number, string[]][]>)
    const migrates = slow.map((e) => e[3]).filter((args) => String(args[0]).toUpperCase() === 'MIGRATE')
    expect(migrates.length, JSON.stringify(slow)).toBeGreaterThan(0)
    // MIGRATE host port "" 0 TIMEOUT ...: never more than the lease can still be trusted for.
    const bound = LOCK_TTL_MS * LEASE_TRUSTED_SHARE - SEND_MARGIN_MS - MIGRATE_REPLY_SLACK_MS
    for (const args of migrates) expect(Number(args[5]), args.join(' ')).toBeLessThanOrEqual(bound)

    const result = await done
    expect(result.moves).toEqual([expect.objectContaining({id: 'migrate-lease', phase: 'done'})])
    expect(await openSlotMarks(file.masters)).toEqual([])
    expect(await Promise.all(keys.map((k) => file.client.get(k)))).toEqual(keys.map((k) => `${k}=1`))
  }, 120_000)
})
