import {setTimeout as sleepFor} from 'node:timers/promises'
import {describe, expect, it} from 'vitest'
import {listShards} from '../../../src/cluster/clusterRepo.js'
import {DEFAULT_EXECUTOR_OPTIONS, type ExecutorEvent} from '../../../src/executor/executorEnv.js'
import {executePlan} from '../../../src/executor/executePlan.js'
import {type Move} from '../../../src/model/move.js'
import {redisAvailable} from '../../support/redisCluster.js'
import {abortExecutorAfterEach, type RunningExecutor, useRedisCluster} from '../../support/redisTestFile.js'

/**
 * A redis move on a real 3-master Redis Cluster while the third master, neither its source
 * nor its target, is down (killed): every run stops at its connect to that master. The
 * executor's retry line (and so the reason it gives up with) named only the connect error and
 * a failover way out that never came (that hand-off looks at the move's two sides); it must
 * name the down master and the way out: restart it, then `apply --resume`.
 */

const available = await redisAvailable()
const file = useRedisCluster('redis-bystander-down', available, {replicasPerMaster: 0, slotsPerShard: 64})

let running: RunningExecutor | undefined
abortExecutorAfterEach(() => {
  const r = running
  running = undefined
  return r
})

describe.skipIf(!available)('a redis move while a master it does not name is down', () => {
  it('retries with a line naming the down master and the way out (restart it, then apply --resume)', async () => {
    const shard = (await listShards(file.ctx)).shards[0]!.value
    const from = file.master(shard.replicas[0]!.node)
    const [to, bystander] = file.masters.filter((m) => m.node !== from.node) as [typeof from, typeof from]
    const at = new Date().toISOString()
    const move: Move = {id: 'bystander', plan: 'by-hand', index: 0, shard: shard.id, from: from.node, to: to.node, baseEpoch: shard.epoch, epoch: shard.epoch, phase: 'pending', progress: {bytes: 0, keys: 0, totalBytes: 0, rateBytesPerSec: 0, dataRateBytesPerSec: 0, cursor: null, stalled: false}, cancelRequested: false, rollbackRequested: false, reason: null, attempts: 0, createdAt: at, updatedAt: at, cutoverAt: null, copyStartedAt: null}
    await file.ctx.store.put(file.ctx.keys.move(move.id), JSON.stringify(move))
    const server = file.redis.servers.find((s) => s.address === bystander.address)!
    const exited = new Promise((r) => server.child.once('exit', r))
    server.child.kill('SIGKILL')
    await exited

    let firstRetry!: (e: ExecutorEvent) => void
    const retried = new Promise<ExecutorEvent>((r) => (firstRetry = r))
    const abort = new AbortController()
    const done = executePlan(file.ctx, {limits: {maxConcurrent: 1, perNode: 1}, throttle: null, nodeThrottle: null, options: DEFAULT_EXECUTOR_OPTIONS, confirm: async () => true, holder: 'test'}, {now: () => Date.now(), sleep: (ms, s) => sleepFor(ms, undefined, {signal: s}).catch(() => {}), emit: (e) => e.type === 'retry' && firstRetry(e)}, abort.signal)
    running = {abort, done: done.catch(() => {})}
    const retry = (await retried) as Extract<ExecutorEvent, {type: 'retry'}>
    expect(retry.error).toContain(`master ${bystander.node} at ${bystander.address} (not a side of this move) does not answer`)
    expect(retry.error).toContain('restart it, then `shardctl apply --resume`')
    // Not the failover hand-off it used to promise: that one speaks for the move's sides only.
    expect(retry.error).not.toContain('if Redis failed that master over')
  }, 120_000)
})
