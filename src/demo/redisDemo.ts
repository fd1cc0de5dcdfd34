import {rmSync} from 'node:fs'
import {join, resolve} from 'node:path'
import {type Cluster} from 'ioredis'
import {openClusterClient} from '../redis/clusterClient.js'
import {abortableSleep} from '../clock/abortableSleep.js'
import {makeServiceContext} from '../cluster/serviceContext.js'
import {readSnapshot} from '../cluster/snapshotService.js'
import {resolveConnection} from '../config/connectionConfig.js'
import {UserError} from '../errors/errors.js'
import {EtcdStore} from '../etcd/etcdStore.js'
import {executePlan} from '../executor/executePlan.js'
import {DEFAULT_EXECUTOR_OPTIONS} from '../executor/executorEnv.js'
import {listMoves} from '../executor/moveStore.js'
import {type EtcdProcess, startEtcd} from '../localEtcd/etcdProcess.js'
import {LOCAL_DIR} from '../localEtcd/localEtcdService.js'
import {type Plan} from '../model/plan.js'
import {planRebalance} from '../planner/planRebalance.js'
import {isLiveMaster, type RedisClusterNode, shortNodeId} from '../redis/clusterNodes.js'
import {discoverTopology} from '../redis/discovery.js'
import {initRedisCluster} from '../redis/initRedisCluster.js'
import {keySlot} from '../redis/keySlot.js'
import {type LocalRedisCluster, requireRedisBinaries, startLocalRedisCluster} from '../redis/localRedisCluster.js'
import {type MasterLoad, measureMasterLoad, worstOverMean} from '../redis/masterCounters.js'
import {ChildSet} from './childProcesses.js'
import {type DemoReport} from './demoService.js'
import {type RedisLoadCounters, RedisDemoLoad, valueFor, verifyValues} from './redisDemoLoad.js'
import {makeDirectories} from '../fs/makeDirectories.js'

/** REDIS_DEMO_CLUSTER is the demo cluster's name in its private etcd. */
export const REDIS_DEMO_CLUSTER = 'redis-demo'

/** RedisDemoOptions size and pace the Redis demo. */
export interface RedisDemoOptions {
  masters: number
  replicasPerMaster: number
  /** keys loaded before the story (small values; those in the big-value slots get bigValueBytes). */
  keys: number
  bigValueBytes: number
  /** opsPerSecond is the client load's total rate; the load is bounded by maxLoadMs and its op count. */
  opsPerSecond: number
  maxLoadMs: number
  /** throttleBytesPerSec is the migration throttle (MIGRATE batches are paced to it). */
  throttleBytesPerSec: number
  /** target is the planner's balance target (max node load ÷ mean). */
  target: number
  /** measureMs is each before/after measuring window of per-master ops/s. */
  measureMs: number
  cwd: string
}

/** RedisDemoMaster is one master before the rebalance and after it. */
export interface RedisDemoMaster {
  node: string
  address: string
  slots: {before: number; after: number}
  opsPerSec: {before: number; after: number}
  usedMemory: {before: number; after: number}
}

/** RedisDemoSummary is the Redis demo's result (its --json output). `ok` is false when a client request failed, a key lost its value, a move failed or was warned of possible data loss. */
export interface RedisDemoSummary {
  ok: boolean
  engine: 'redis'
  masters: RedisDemoMaster[]
  replicasPerMaster: number
  keys: number
  /** hotSlots is the slot range [first, end) that takes hotShare of the operations. */
  hotSlots: {first: number; end: number; share: number}
  /** opsImbalance is the worst master's measured ops/s over the mean, before and after. */
  opsImbalance: {before: number | null; after: number | null}
  /** memoryImbalance is the worst master's used memory over the mean, before and after. */
  memoryImbalance: {before: number | null; after: number | null}
  /** plan is what the load-aware plan predicted (planner figures on the sampled snapshot). */
  plan: {id: string; moves: number; imbalanceBefore: number; imbalanceAfter: number}
  moves: {done: number; aborted: number; failed: number; skipped: number}
  keysMoved: number
  bytesMoved: number
  rebalanceMs: number
  totalMs: number
  requests: RedisLoadCounters & {duringRebalance: number; errorsDuringRebalance: number}
  /** verified: every key the load wrote read back with the value it last wrote. */
  verified: {checked: number; mismatched: number; examples: string[]}
  /** warnings are the moves' warnings (a master restarted mid-move: model/move.ts MoveWarning); one of possible data loss makes `ok` false. */
  warnings: {move: string; text: string; mayHaveLostData: boolean}[]
}

/**
 * runRedisDemo tells shardctl's Redis story on real processes, all on 127.0.0.1: a private
 * etcd and a Redis Cluster of `masters` masters with `replicasPerMaster` replicas each
 * (`redis-cli --cluster create`, maxmemory-policy allkeys-lfu so OBJECT FREQ gives per-slot
 * load on servers without CLUSTER SLOT-STATS), loaded with `keys` keys, some of them big; a
 * bounded client load puts `hotShare` of its operations on a tenth of the slots, all on one
 * master. It records the cluster (`cluster init --engine redis`), plans load-aware on the
 * sampled snapshot and applies the plan throttled under the load, then measures per-master
 * ops/s and memory again and reads back every key the load wrote. Everything started is
 * stopped and removed at the end, also when a step fails or `signal` fires (an orphan guard
 * kills the servers even if this process is SIGKILLed).
 * Throws MISSING_DEPENDENCY without redis-server/redis-cli or etcd; INTERNAL when a process
 * does not come up; INTERRUPTED (exit 130) when interrupted.
 */
export async function runRedisDemo(opts: RedisDemoOptions, report: (r: DemoReport) => void, signal: AbortSignal): Promise<RedisDemoSummary> {
  await requireRedisBinaries()
  const started = Date.now()
  const check = () => {
    if (signal.aborted) throw new UserError('INTERRUPTED', 'demo interrupted', 'nothing was left running')
  }
  const sleep = (ms: number) => abortableSleep(ms, signal)
  const dataDir = resolve(opts.cwd, LOCAL_DIR, 'demo', String(process.pid))
  makeDirectories(dataDir)
  const children = new ChildSet({tag: dataDir, logDir: dataDir, detached: false})
  children.guardDir(dataDir)
  let etcd: EtcdProcess | undefined
  let store: EtcdStore | undefined
  let redis: LocalRedisCluster | undefined
  let client: Cluster | undefined
  let load: RedisDemoLoad | undefined
  try {
    report({type: 'step', text: 'starting a private etcd'})
    etcd = await startEtcd({dataDir: join(dataDir, 'etcd'), name: 'shardctl-redis-demo'})
    children.guard(etcd.pid)
    check()
    report({type: 'step', text: `starting a Redis Cluster: ${opts.masters} masters + ${opts.masters * opts.replicasPerMaster} replicas`})
    redis = await startLocalRedisCluster({masters: opts.masters, replicasPerMaster: opts.replicasPerMaster, parentDir: dataDir, serverArgs: ['--maxmemory-policy', 'allkeys-lfu'], onSpawn: (pid) => children.guard(pid)})
    report({type: 'line', text: `redis-cli --cluster create: ${redis.servers.map((s) => s.address).join(' ')}`})
    check()
    const masters = (await discoverTopology(redis.seed)).masters.filter(isLiveMaster).sort((a, b) => Math.min(...a.slots) - Math.min(...b.slots))
    const first = masters[0]
    const last = masters[masters.length - 1]
    if (!first || !last) throw new UserError('INTERNAL', 'the new Redis Cluster reports no master')
    const skew = skewedKeys(first.slots, last.slots, opts)
    const {hotSlots, bigFirst, keys, hot, valueBytes} = skew
    client = openClusterClient([{host: '127.0.0.1', port: Number(redis.seed.split(':')[1])}], {enableOfflineQueue: true})
    client.on('error', () => {})
    report({type: 'step', text: `loading ${opts.keys} keys`})
    const expected = await writeKeys(client, keys, valueBytes, check)
    report({type: 'line', text: `loaded ${opts.keys} keys; ${hot.length} of them in slots ${hotSlots.first}-${hotSlots.end - 1} (${first.address}) take ${hotSlots.share * 100}% of the operations; keys of slots ${bigFirst}-${bigFirst + 99} (${last.address}) hold ${Math.round(opts.bigValueBytes / 1024)} KiB values`})

    const conn = resolveConnection({flags: {endpoints: etcd.endpoint, cluster: REDIS_DEMO_CLUSTER}, env: {}})
    store = new EtcdStore(conn)
    const ctx = makeServiceContext(store, conn)
    const init = await initRedisCluster(ctx, {seed: redis.seed, slotsPerShard: 128, force: true})
    report({type: 'line', text: `shardctl cluster init --engine redis --seed ${redis.seed}: ${init.shards} shards of up to 128 slots on ${init.nodes.length} masters`})
    load = new RedisDemoLoad(client, {keys, hot, hotShare: hotSlots.share, valueBytes, workers: 8, opsPerSecond: opts.opsPerSecond, writeShare: 0.2, maxOps: Math.ceil((opts.opsPerSecond * opts.maxLoadMs) / 1000), maxMs: opts.maxLoadMs})
    report({type: 'step', text: `client load on: ${opts.opsPerSecond} requests/s, ${hotSlots.share * 100}% on a tenth of the slots`})
    report({type: 'ready', ctx, endpoint: etcd.endpoint})
    // LFU counters and the ops counters need traffic before they tell hot from cold.
    await sleep(3000)
    const addresses = masters.map((m) => m.address)
    const before = await measureMasterLoad(addresses, opts.measureMs, sleep)
    report({type: 'line', text: `before: ${describeLoad(masters.map((m) => shortNodeId(m.id)), before)}`})
    check()

    const plan = planRebalance(await readSnapshot(ctx), {maxImbalance: opts.target}, {id: `redis-demo-${process.pid}`, createdAt: new Date().toISOString()}, {baseline: false})
    report({type: 'plan', round: 1, title: 'load-aware rebalance', plan})
    const atRebalance = load.counters()
    const rebalanceStarted = Date.now()
    report({type: 'step', text: `applying ${plan.summary.moves} moves under a ${Math.round(opts.throttleBytesPerSec / 1024)} KiB/s throttle, the load running`})
    const result = await executePlan(
      ctx,
      {plan, limits: {maxConcurrent: 2, perNode: 1}, throttle: opts.throttleBytesPerSec, nodeThrottle: null, options: DEFAULT_EXECUTOR_OPTIONS, confirm: async () => true, holder: 'shardctl demo --engine redis'},
      {now: () => Date.now(), sleep: (ms) => sleep(ms), emit: (event) => report({type: 'executor', event})},
      signal,
    )
    check()
    const rebalanceMs = Date.now() - rebalanceStarted
    const atEnd = load.counters()
    const moves = {done: 0, aborted: 0, failed: 0, skipped: 0}
    for (const m of result.moves) if (m.phase in moves) moves[m.phase as keyof typeof moves]++
    report({type: 'line', text: `${moves.done}/${result.moves.length} moves done in ${(rebalanceMs / 1000).toFixed(1)} s`})
    report({type: 'step', text: 'measuring the balance after the rebalance'})
    const after = await measureMasterLoad(addresses, opts.measureMs, sleep)
    report({type: 'line', text: `after: ${describeLoad(masters.map((m) => shortNodeId(m.id)), after)}`})
    const final = await load.stop()
    for (const [k, v] of load.expected) expected.set(k, v)
    load = undefined
    report({type: 'step', text: `reading back all ${expected.size} keys`})
    const verified = await verifyValues(client, expected)
    const mastersAfter = (await discoverTopology(redis.seed)).masters
    const keysMoved = (await listMoves(ctx)).reduce((a, m) => a + m.value.progress.keys, 0)
    const warnings = result.moves.flatMap((m) => m.warnings.map((w) => ({move: m.id, text: w.text, mayHaveLostData: w.mayHaveLostData})))
    const summary = summarise({masters, mastersAfter, before, after, opts, hotSlots, plan, moves, keysMoved, bytesMoved: result.bytesCopied, rebalanceMs, started, final, atRebalance, atEnd, verified, warnings})
    report({type: 'step', text: 'stopping everything'})
    return summary
  } finally {
    await load?.stop().catch(() => {})
    client?.disconnect()
    store?.close()
    await redis?.stop()
    await etcd?.stop()
    children.release()
    rmSync(dataDir, {recursive: true, force: true})
  }
}

/** SkewedKeys is the demo's key set: which keys exist, which are hot, which carry big values. */
interface SkewedKeys {
  /** hotSlots is a tenth of the slots, contiguous on the first master, taking `share` of the operations. */
  hotSlots: {first: number; end: number; share: number}
  /** bigFirst starts the 100 slots (on the last master) whose keys carry big values: the memory skew. */
  bigFirst: number
  keys: string[]
  /** hot lists the indices into `keys` of the keys in hotSlots. */
  hot: number[]
  valueBytes: (i: number) => number
}

/** skewedKeys lays out the demo's keys over the slots of the first and last masters (pure). */
function skewedKeys(firstSlots: readonly number[], lastSlots: readonly number[], opts: Pick<RedisDemoOptions, 'keys' | 'bigValueBytes'>): SkewedKeys {
  const hotFirst = Math.min(...firstSlots)
  const hotSlots = {first: hotFirst, end: hotFirst + 1638, share: 0.9}
  const bigFirst = Math.min(...lastSlots)
  const isBig = (slot: number) => slot >= bigFirst && slot < bigFirst + 100
  const keys = Array.from({length: opts.keys}, (_, i) => `key:${i}`)
  const slots = keys.map(keySlot)
  const valueBytes = (i: number) => (isBig(slots[i] ?? -1) ? opts.bigValueBytes : 100)
  const hot = slots.flatMap((slot, i) => (slot >= hotSlots.first && slot < hotSlots.end ? [i] : []))
  return {hotSlots, bigFirst, keys, hot, valueBytes}
}

/** writeKeys writes every key, 500 at a time, and returns what each now holds; `check` throws when interrupted. */
async function writeKeys(client: Cluster, keys: readonly string[], valueBytes: (i: number) => number, check: () => void): Promise<Map<string, string>> {
  const expected = new Map<string, string>()
  for (let i = 0; i < keys.length; i += 500) {
    await Promise.all(
      keys.slice(i, i + 500).map(async (key, j) => {
        const value = valueFor(key, -1, valueBytes(i + j))
        await client.set(key, value)
        expected.set(key, value)
      }),
    )
    check()
  }
  return expected
}

/** summarise puts a finished run's measurements into the demo's summary. */
function summarise(r: {
  masters: readonly RedisClusterNode[]
  mastersAfter: readonly RedisClusterNode[]
  before: readonly MasterLoad[]
  after: readonly MasterLoad[]
  opts: RedisDemoOptions
  hotSlots: RedisDemoSummary['hotSlots']
  plan: Plan
  moves: RedisDemoSummary['moves']
  keysMoved: number
  bytesMoved: number
  rebalanceMs: number
  started: number
  final: RedisLoadCounters
  atRebalance: RedisLoadCounters
  atEnd: RedisLoadCounters
  verified: RedisDemoSummary['verified']
  warnings: RedisDemoSummary['warnings']
}): RedisDemoSummary {
  const {masters, before, after, final, moves, verified, warnings} = r
  return {
    ok: final.errors === 0 && verified.mismatched === 0 && moves.failed === 0 && moves.aborted === 0 && !warnings.some((w) => w.mayHaveLostData),
    engine: 'redis',
    masters: masters.map((m, i) => ({
      node: shortNodeId(m.id),
      address: m.address,
      slots: {before: m.slots.length, after: r.mastersAfter.find((x) => x.id === m.id)?.slots.length ?? 0},
      opsPerSec: {before: Math.round(before[i]?.opsPerSec ?? 0), after: Math.round(after[i]?.opsPerSec ?? 0)},
      usedMemory: {before: before[i]?.usedMemory ?? 0, after: after[i]?.usedMemory ?? 0},
    })),
    replicasPerMaster: r.opts.replicasPerMaster,
    keys: r.opts.keys,
    hotSlots: r.hotSlots,
    opsImbalance: {before: worstOverMean(before.map((b) => b.opsPerSec)), after: worstOverMean(after.map((b) => b.opsPerSec))},
    memoryImbalance: {before: worstOverMean(before.map((b) => b.usedMemory)), after: worstOverMean(after.map((b) => b.usedMemory))},
    plan: {id: r.plan.id, moves: r.plan.summary.moves, imbalanceBefore: r.plan.summary.imbalanceBefore, imbalanceAfter: r.plan.summary.imbalanceAfter},
    moves,
    keysMoved: r.keysMoved,
    bytesMoved: r.bytesMoved,
    rebalanceMs: r.rebalanceMs,
    totalMs: Date.now() - r.started,
    requests: {...final, duringRebalance: r.atEnd.requests - r.atRebalance.requests, errorsDuringRebalance: r.atEnd.errors - r.atRebalance.errors},
    verified,
    warnings,
  }
}

function describeLoad(nodes: readonly string[], load: readonly MasterLoad[]): string {
  const worst = worstOverMean(load.map((l) => l.opsPerSec))
  return `${load.map((l, i) => `${nodes[i]} ${Math.round(l.opsPerSec)} ops/s, ${(l.usedMemory / 1024 / 1024).toFixed(1)} MiB`).join('; ')} — worst master ${worst?.toFixed(2) ?? 'n/a'}x the mean`
}
