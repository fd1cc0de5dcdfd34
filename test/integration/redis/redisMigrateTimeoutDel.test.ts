import {describe, expect, it} from 'vitest'
import {type ExecutorEvent} from '../../../src/executor/executorEnv.js'
import {withRedisNode} from '../../../src/redis/redisConnection.js'
import {openSlotMarks, redisAvailable, type RedisMaster} from '../../support/redisCluster.js'
import {inProcessApplyOf, useRedisCluster} from '../../support/redisTestFile.js'
import {countAt, poll, writeKeysInOneSlot} from '../../support/redisFailover.js'

/**
 * Hunt (s21, redishunt): a MIGRATE batch that times out on a stalled target, then a client DEL.
 *
 * Interleaving (real processes, the executor's own runner):
 * 1. the move migrates slot S one key per MIGRATE (keys/s 5) with a 300 ms MIGRATE timeout;
 * 2. the target stalls (`DEBUG SLEEP 1.5`, standing for a slow fork, script or big-key load);
 *    the source's next MIGRATE has written RESTORE-ASKING k to the target's socket and times out
 *    (IOERR): the source keeps k and the runner fails (the executor retries it after a backoff);
 * 3. the target wakes and runs the buffered RESTORE: it now holds a copy of k as well;
 * 4. a client deletes k: the source still holds it, so it serves the DEL and answers 1;
 * 5. the runner's retry lists the source's keys (k is not among them any more) and closes the
 *    slot on the target, whose copy of k is served again: an acknowledged DEL undone.
 * (Between 2 and 5 MIGRATE is taken from the source's default user by ACL so that the retry
 * cannot run before the DEL: the order is the one above, not a race the test hopes for.)
 *
 * This is MIGRATE's own semantics (a timed-out MIGRATE leaves a copy on the target; redis-cli
 * --cluster reshard does the same). The runner cannot tell the stale copy from a key the same
 * client wrote afterwards through ASK (both are on the target only), so it is not fixed here:
 * `it.fails` records it (docs/redis.md, "Proof and limits"). The interleaving runs in a test of
 * its own that asserts every step up to the slot closing; the `it.fails` only reads the deleted
 * keys back, so it cannot pass (as an expected failure) for any other reason than the DEL being
 * undone: if the first test did not get as far, it has no key to read and fails as unexpected.
 */

const available = await redisAvailable()
const file = useRedisCluster('redis-migrate-timeout-del', available, {replicasPerMaster: 0, slotsPerShard: 16, serverArgs: ['--enable-debug-command', 'yes']})

const apply = inProcessApplyOf(file)

const migrateAllowed = (m: RedisMaster, allowed: boolean) => withRedisNode(m.address, (r) => r.call('ACL', 'SETUSER', 'default', allowed ? '+migrate' : '-migrate'))

async function keysAt(address: string, slot: number): Promise<string[]> {
  return withRedisNode(address, async (r) => (await r.call('CLUSTER', 'GETKEYSINSLOT', String(slot), '1000')) as string[])
}

describe.skipIf(!available)('a MIGRATE that times out on a stalled target, then a client DEL', () => {
  let deleted: string[] = []
  it('runs the interleaving: a timed-out MIGRATE, the target waking with a copy, a DEL on the source, the move finishing', async () => {
    const {shard, from, to, first, end} = await file.shardToMove(0)
    const {slot, keys} = await writeKeysInOneSlot(file.client, {first, end}, 't', 12)
    await file.recordPendingMove('timeout-del', shard, from, to)

    const events: ExecutorEvent[] = []
    const done = apply({redis: {migrateTimeoutMs: 300, keysPerSec: 5, keysPerBatch: 1}, emit: (e) => events.push(e)})
    let gone: string[] = []
    try {
      await poll('the first keys on the target', async () => ((await countAt(to.address, slot)) >= 2 ? true : undefined), 30_000)
      const stall = withRedisNode(to.address, (r) => r.call('DEBUG', 'SLEEP', '1.5')).then(() => undefined, (e: unknown) => e)
      await poll('the runner to fail and be retried', async () => (events.some((e) => e.type === 'retry') ? true : undefined), 20_000)
      await migrateAllowed(from, false)
      expect(await stall).toBeUndefined()
      const retry = events.find((e) => e.type === 'retry')
      expect(retry && 'error' in retry ? retry.error : '').toMatch(/IOERR/)
      // The timed-out key: on the source (never deleted there) and, once the target woke, on the target too.
      const onTarget = new Set(await keysAt(to.address, slot))
      const both = (await keysAt(from.address, slot)).filter((k) => onTarget.has(k))
      expect(both.length).toBeGreaterThan(0)
      for (const k of both) expect(await file.client.del(k)).toBe(1)
      gone = both
    } finally {
      await migrateAllowed(from, true)
    }
    const result = await done
    expect(result.moves).toEqual([expect.objectContaining({id: 'timeout-del', phase: 'done'})])
    expect(await openSlotMarks(file.masters)).toEqual([])
    const kept = keys.filter((k) => !gone.includes(k))
    expect(await Promise.all(kept.map((k) => file.client.get(k)))).toEqual(kept.map((k) => `${k}=1`))
    deleted = gone
  }, 90_000)

  it.fails('does not bring the deleted key back when the slot closes', async () => {
    // The acknowledged DEL: the key must stay gone.
    expect(await Promise.all(deleted.map((k) => file.client.get(k)))).toEqual(deleted.map(() => null))
  })
})
