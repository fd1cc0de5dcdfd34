import {setTimeout as sleepFor} from 'node:timers/promises'
import {type Cluster} from 'ioredis'
import {openClusterClient} from '../../src/redis/clusterClient.js'
import {afterAll, beforeAll, inject} from 'vitest'
import {listShards} from '../../src/cluster/clusterRepo.js'
import {makeServiceContext, type ServiceContext} from '../../src/cluster/serviceContext.js'
import {DEFAULT_EXECUTOR_OPTIONS, type ExecutorEvent} from '../../src/executor/executorEnv.js'
import {type ApplyResult, executePlan} from '../../src/executor/executePlan.js'
import {type Move} from '../../src/model/move.js'
import {type Shard} from '../../src/model/shard.js'
import {isLiveMaster, shortNodeId} from '../../src/redis/clusterNodes.js'
import {discoverTopology} from '../../src/redis/discovery.js'
import {initRedisCluster} from '../../src/redis/initRedisCluster.js'
import {type RedisMoveOptions} from '../../src/redis/redisMoveRunner.js'
import {slotsOfRange} from '../../src/redis/slotMap.js'
import {moveOf} from '../executor/fixtures.js'
import {abortExecutorAfterEach, type RunningExecutor} from './executorAbort.js'
import {type RealRedisCluster, type RedisMaster, startRedisCluster} from './redisCluster.js'
import {StoreSet, uniqueCluster} from './testStore.js'

/**
 * RedisTestFile is the shared set-up of a test file on a real Redis Cluster: the cluster, a
 * cluster-aware client following MOVED/ASK (without auto-pipelining: in one run an
 * auto-pipelined GET failed with the MOVED of a slot that had moved twice), an etcd namespace (`ctx`) and the masters. Use
 * {@link useRedisCluster}; the fields throw until its beforeAll ran.
 */
export class RedisTestFile {
  readonly stores = new StoreSet()
  #redis?: RealRedisCluster
  #client?: Cluster
  #ctx?: ServiceContext
  #masters?: RedisMaster[]
  constructor(readonly label: string) {}
  get redis(): RealRedisCluster {
    return this.#redis ?? fail('redis cluster')
  }
  get client(): Cluster {
    return this.#client ?? fail('client')
  }
  get ctx(): ServiceContext {
    return this.#ctx ?? fail('ctx')
  }
  /** masters as discovered at start-up (a test that fails a master over must rediscover). */
  get masters(): RedisMaster[] {
    return this.#masters ?? fail('masters')
  }
  /** master returns the master with short id `node`; throws on an unknown id. */
  master(node: string): RedisMaster {
    const m = this.masters.find((x) => x.node === node)
    if (!m) throw new Error(`no master ${node} in the test cluster (masters: ${this.masters.map((x) => x.node).join(', ')})`)
    return m
  }
  /** shardToMove is shard `index` of `ctx` (in key order), the master serving it (`from`), another master (`to`) and its slots [`first`, `end`): what a test moving one shard by hand starts from. */
  async shardToMove(index: number): Promise<{shard: Shard; from: RedisMaster; to: RedisMaster; first: number; end: number}> {
    const shard = (await listShards(this.ctx)).shards[index]!.value
    const from = this.master(shard.replicas[0]!.node)
    const to = this.masters.find((m) => m.node !== from.node)!
    return {shard, from, to, ...slotsOfRange(shard.range)}
  }
  /** recordPendingMove records in `ctx` a pending move `id` of `shard` from `from` to `to` (a plan `by-hand`, as if an apply had recorded it and stopped), for the executor to take up. */
  async recordPendingMove(id: string, shard: Shard, from: RedisMaster, to: RedisMaster): Promise<Move> {
    const at = new Date().toISOString()
    const move = moveOf({id, plan: 'by-hand', index: 0, shard: shard.id, from: from.node, to: to.node, baseEpoch: shard.epoch, epoch: shard.epoch, createdAt: at, updatedAt: at})
    await this.ctx.store.put(this.ctx.keys.move(move.id), JSON.stringify(move))
    return move
  }
  /** freshNamespace opens a new etcd namespace (a new shardctl cluster name) and makes it `ctx`; with `slotsPerShard` it records the Redis cluster there. */
  async freshNamespace(slotsPerShard?: number): Promise<ServiceContext> {
    const cluster = uniqueCluster(this.label)
    this.#ctx = makeServiceContext(this.stores.open(inject('etcdEndpoint'), cluster), {cluster})
    if (slotsPerShard !== undefined) await initRedisCluster(this.#ctx, {seed: this.redis.seed, slotsPerShard, force: false})
    return this.#ctx
  }
  async start(opts: Parameters<typeof startRedisCluster>[0], slotsPerShard?: number): Promise<void> {
    this.#redis = await startRedisCluster(opts)
    this.#client = openClusterClient([{host: '127.0.0.1', port: this.#redis.servers[0]?.port ?? 0}])
    this.#masters = (await discoverTopology(this.#redis.seed)).masters.filter(isLiveMaster).map((m) => ({node: shortNodeId(m.id), redisId: m.id, address: m.address}))
    await this.freshNamespace(slotsPerShard)
  }
  async stop(): Promise<void> {
    this.#client?.disconnect()
    this.stores.closeAll()
    await this.#redis?.stop()
  }
}

function fail(what: string): never {
  throw new Error(`${what} is not set up: redis-server missing, or beforeAll failed`)
}

/**
 * useRedisCluster registers beforeAll/afterAll hooks that start a real cluster (3 masters +
 * 1 replica each unless told), open the client and an etcd namespace labelled `label`, and
 * with `slotsPerShard` record the cluster there (`cluster init --engine redis`). Nothing is
 * started when `available` is false (the file's describe.skipIf skips the tests).
 */
export function useRedisCluster(label: string, available: boolean, opts: {masters?: number; replicasPerMaster?: number; serverArgs?: readonly string[]; slotsPerShard?: number} = {}): RedisTestFile {
  const file = new RedisTestFile(label)
  beforeAll(async () => {
    if (available) await file.start(opts, opts.slotsPerShard)
  }, 120_000)
  afterAll(async () => {
    await file.stop()
  }, 60_000)
  return file
}

export {abortExecutorAfterEach, type RunningExecutor} from './executorAbort.js'

/**
 * inProcessApplyOf returns `apply`, which runs the executor in-process on `file`'s namespace as
 * `apply --resume` would (the moves recorded there, one at a time, the real clock, `redis`
 * tuning the slot migration; `ctx` instead of the file's, e.g. one whose store a test wraps;
 * `sleepCapMs` cutting each of the executor's waits short, e.g. its retry backoff, which
 * doubles to 5 s),
 * and registers the afterEach that aborts and awaits each test's run: shared because every
 * redis move test that drives the executor itself needs both.
 */
export function inProcessApplyOf(file: RedisTestFile): (opts?: {redis?: Partial<RedisMoveOptions>; emit?: (e: ExecutorEvent) => void; ctx?: ServiceContext; sleepCapMs?: number; clockSkewMs?: number}) => Promise<ApplyResult> {
  let running: RunningExecutor | undefined
  abortExecutorAfterEach(() => {
    const r = running
    running = undefined
    return r
  })
  // clockSkewMs: the executor's clock that far from this process's (an executor on another host).
  return ({redis, emit = () => {}, ctx = file.ctx, sleepCapMs = Number.POSITIVE_INFINITY, clockSkewMs = 0} = {}) => {
    const abort = new AbortController()
    const done = executePlan(ctx, {limits: {maxConcurrent: 1, perNode: 1}, throttle: null, nodeThrottle: null, options: DEFAULT_EXECUTOR_OPTIONS, confirm: async () => true, holder: 'test', redis}, {now: () => Date.now() + clockSkewMs, sleep: (ms, s) => sleepFor(Math.min(ms, sleepCapMs), undefined, {signal: s}).catch(() => {}), emit}, abort.signal)
    running = {abort, done: done.catch(() => {})}
    return done
  }
}
