import {setTimeout as sleepFor} from 'node:timers/promises'
import {describe, expect, it} from 'vitest'
import {listShards} from '../../../src/cluster/clusterRepo.js'
import {DEFAULT_EXECUTOR_OPTIONS, type ExecutorEvent} from '../../../src/executor/executorEnv.js'
import {type ApplyResult, executePlan} from '../../../src/executor/executePlan.js'
import {getMove} from '../../../src/executor/moveStore.js'
import {RETRY_POLICY} from '../../../src/executor/retryPolicy.js'
import {type Move} from '../../../src/model/move.js'
import {withRedisNode} from '../../../src/redis/redisConnection.js'
import {slotsOfRange} from '../../../src/redis/slotMap.js'
import {openSlotMarks, redisAvailable, servedSlots, tagsInSlots, type RedisMaster} from '../../support/redisCluster.js'
import {abortExecutorAfterEach, type RunningExecutor, useRedisCluster} from '../../support/redisTestFile.js'

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

let running: RunningExecutor | undefined
abortExecutorAfterEach(() => {
  const r = running
  running = undefined
  return r
})

function applyResume(emit: (e: ExecutorEvent) => void): Promise<ApplyResult> {
  const abort = new AbortController()
  const done = executePlan(file.ctx, {limits: {maxConcurrent: 1, perNode: 1}, throttle: null, nodeThrottle: null, options: DEFAULT_EXECUTOR_OPTIONS, confirm: async () => true, holder: 'test'}, {now: () => Date.now(), sleep: (ms, s) => sleepFor(ms, undefined, {signal: s}).catch(() => {}), emit}, abort.signal)
  running = {abort, done: done.catch(() => {})}
  return done
}

const setslotAllowed = (m: RedisMaster, allowed: boolean) => withRedisNode(m.address, (r) => r.call('ACL', 'SETUSER', 'default', allowed ? '+cluster|setslot' : '-cluster|setslot'))

describe.skipIf(!available)('a redis move that keeps failing', () => {
  it('is recorded failed after the bounded retries with its ways out; apply --resume finishes it once the cause is gone', async () => {
    const shard = (await listShards(file.ctx)).shards[2]!.value
    const from = file.master(shard.replicas[0]!.node)
    const to = file.masters.find((m) => m.node !== from.node)!
    const {first, end} = slotsOfRange(shard.range)
    const keys = tagsInSlots(first, end, end - first, 'g').flatMap(({tag}) => Array.from({length: 5}, (_, j) => `{${tag}}:${j}`))
    await Promise.all(keys.map((k) => file.client.set(k, `${k}:v`)))
    const at = new Date().toISOString()
    const move: Move = {id: 'give-up', plan: 'by-hand', index: 0, shard: shard.id, from: from.node, to: to.node, baseEpoch: shard.epoch, epoch: shard.epoch, phase: 'pending', progress: {bytes: 0, keys: 0, totalBytes: 0, rateBytesPerSec: 0, dataRateBytesPerSec: 0, cursor: null, stalled: false}, cancelRequested: false, rollbackRequested: false, reason: null, attempts: 0, createdAt: at, updatedAt: at, cutoverAt: null, copyStartedAt: null}
    await file.ctx.store.put(file.ctx.keys.move(move.id), JSON.stringify(move))

    await setslotAllowed(from, false)
    try {
      const events: ExecutorEvent[] = []
      const result = await applyResume((e) => events.push(e))
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
    const result = await applyResume((e) => events.push(e))
    expect(events).toContainEqual(expect.objectContaining({type: 'info', message: expect.stringMatching(/^move give-up \(shard \d+\) had failed \(gave up after .*\): resuming it in copying$/)}))
    expect(result.moves).toEqual([expect.objectContaining({id: 'give-up', phase: 'done'})])
    const served = await servedSlots(to)
    expect(Array.from({length: end - first}, (_, i) => first + i).filter((s) => !served.has(s))).toEqual([])
    expect(await openSlotMarks(file.masters)).toEqual([])
    expect(await Promise.all(keys.map((k) => file.client.get(k)))).toEqual(keys.map((k) => `${k}:v`))
    expect((await listShards(file.ctx)).shards.find((s) => s.value.id === shard.id)!.value.replicas).toEqual([{node: to.node, role: 'voter'}])
  }, 120_000)
})
