import {describe, expect, it} from 'vitest'
import {listShards} from '../../../src/cluster/clusterRepo.js'
import {type ExecutorEvent} from '../../../src/executor/executorEnv.js'
import {getMove} from '../../../src/executor/moveStore.js'
import {RETRY_POLICY} from '../../../src/executor/retryPolicy.js'
import {withRedisNode} from '../../../src/redis/redisConnection.js'
import {openSlotMarks, redisAvailable, servedSlots, tagsInSlots, type RedisMaster} from '../../support/redisCluster.js'
import {inProcessApplyOf, useRedisCluster} from '../../support/redisTestFile.js'

/**
 * A redis move that keeps failing on a real 3-master Redis Cluster: the source refuses `CLUSTER
 * SETSLOT` to the default user (an ACL taken away after the cluster formed), so every run opens
 * the first slot on the target and fails on the source's MIGRATING, getting no further. The
 * executor gives up after RETRY_POLICY.maxAttempts runs: the move is recorded `failed` with a
 * reason naming the error and the ways out, and apply returns by itself (before, it retried for
 * as long as it ran). Once the ACL is back, `apply --resume` takes the failed move up from its
 * cursor and finishes it: every slot on the target, none open, every key readable, the shard
 * recorded on the target.
 */

const available = await redisAvailable()
const file = useRedisCluster('redis-give-up', available, {replicasPerMaster: 0, slotsPerShard: 16})

const applyResume = inProcessApplyOf(file)

const setslotAllowed = (m: RedisMaster, allowed: boolean) => withRedisNode(m.address, (r) => r.call('ACL', 'SETUSER', 'default', allowed ? '+cluster|setslot' : '-cluster|setslot'))

describe.skipIf(!available)('a redis move that keeps failing', () => {
  it('is recorded failed after the bounded retries with its ways out; apply --resume finishes it once the cause is gone', async () => {
    const {shard, from, to, first, end} = await file.shardToMove(2)
    const keys = tagsInSlots(first, end, end - first, 'g').flatMap(({tag}) => Array.from({length: 5}, (_, j) => `{${tag}}:${j}`))
    await Promise.all(keys.map((k) => file.client.set(k, `${k}:v`)))
    await file.recordPendingMove('give-up', shard, from, to)

    await setslotAllowed(from, false)
    try {
      const events: ExecutorEvent[] = []
      // The backoff between the runs (0.4 s doubling to 5 s: 21 s in all) is not what this checks.
      const result = await applyResume({emit: (e) => events.push(e), sleepCapMs: 100})
      expect(result.stopped).toBe(false)
      expect(result.moves).toEqual([expect.objectContaining({id: 'give-up', phase: 'failed'})])
      expect(events.filter((e) => e.type === 'retry')).toHaveLength(RETRY_POLICY.maxAttempts - 1)
      const failed = (await getMove(file.ctx, 'give-up')).value
      expect(failed.reason).toMatch(new RegExp(`^gave up after ${RETRY_POLICY.maxAttempts} runs in a row failed without progress; last: .*NOPERM`))
      expect(failed.reason).toContain('`shardctl apply --resume`')
      expect(failed.reason).toContain('`shardctl redis fix --seed <live node> --yes`')
      // Nothing moved: the first slot is open on the target only, every slot still on the source.
      expect(await openSlotMarks(file.masters)).toEqual([{slot: first, node: to.node, state: 'importing'}])
      const onSource = await servedSlots(from)
      expect(Array.from({length: end - first}, (_, i) => first + i).every((s) => onSource.has(s))).toBe(true)
    } finally {
      await setslotAllowed(from, true)
    }

    const events: ExecutorEvent[] = []
    const result = await applyResume({emit: (e) => events.push(e)})
    expect(events).toContainEqual(expect.objectContaining({type: 'info', message: expect.stringMatching(/^move give-up \(shard \d+\) had failed \(gave up after .*\): resuming it in copying$/)}))
    expect(result.moves).toEqual([expect.objectContaining({id: 'give-up', phase: 'done'})])
    const served = await servedSlots(to)
    expect(Array.from({length: end - first}, (_, i) => first + i).filter((s) => !served.has(s))).toEqual([])
    expect(await openSlotMarks(file.masters)).toEqual([])
    expect(await Promise.all(keys.map((k) => file.client.get(k)))).toEqual(keys.map((k) => `${k}:v`))
    expect((await listShards(file.ctx)).shards.find((s) => s.value.id === shard.id)!.value.replicas).toEqual([{node: to.node, role: 'voter'}])
  }, 120_000)
})
