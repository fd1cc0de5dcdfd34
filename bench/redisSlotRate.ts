/**
 * bench/redisSlotRate.ts — how fast the redis engine moves slots that hold (almost) no keys
 * (`npm run build --silent && node dist/bench/redisSlotRate.js`): the cost a drain pays per
 * slot before any data moves.
 *
 * A real 3 + 3 Redis Cluster on 127.0.0.1 (run-time ports) and a private etcd; the cluster is
 * recorded with one shard per master, BENCH_SLOT_KEYS keys (default 500) are written across
 * every slot, and the first master's whole shard (5,461 slots) moves to the second through
 * the real executor (in process, unthrottled). Prints slots/s by wall time and the bench
 * process's CPU seconds (process.cpuUsage: the executor's share, which a loaded machine
 * does not inflate the way it inflates wall time). Everything started is stopped at exit.
 */
import {mkdtempSync, rmSync} from 'node:fs'
import {loadavg, tmpdir} from 'node:os'
import {join} from 'node:path'
import {setTimeout as sleep} from 'node:timers/promises'
import {openClusterClient} from '../src/redis/clusterClient.js'
import {listShards} from '../src/cluster/clusterRepo.js'
import {makeServiceContext} from '../src/cluster/serviceContext.js'
import {resolveConnection} from '../src/config/connectionConfig.js'
import {EtcdStore} from '../src/etcd/etcdStore.js'
import {executePlan} from '../src/executor/executePlan.js'
import {DEFAULT_EXECUTOR_OPTIONS} from '../src/executor/executorEnv.js'
import {startEtcd} from '../src/localEtcd/etcdProcess.js'
import {type Move} from '../src/model/move.js'
import {initRedisCluster} from '../src/redis/initRedisCluster.js'
import {slotsOfRange} from '../src/redis/slotMap.js'
import {startRedisCluster} from '../test/support/redisCluster.js'

const KEYS = Number(process.env.BENCH_SLOT_KEYS ?? 500)
/** BOUND_MS: the move is stopped after this, and the run reported as unfinished. */
const BOUND_MS = 8 * 60_000

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-redis-slots-'))
  const etcd = await startEtcd({dataDir: join(dir, 'etcd'), name: 'bench-redis-slots'})
  const redis = await startRedisCluster({masters: 3, replicasPerMaster: 1})
  const conn = resolveConnection({flags: {endpoints: etcd.endpoint, cluster: 'slots'}, env: {}})
  const store = new EtcdStore(conn)
  const client = openClusterClient([{host: '127.0.0.1', port: redis.servers[0]?.port ?? 0}])
  try {
    for (let i = 0; i < KEYS; i += 100) await Promise.all(Array.from({length: Math.min(100, KEYS - i)}, (_, j) => client.set(`k:${i + j}`, 'v')))
    const ctx = makeServiceContext(store, conn)
    await initRedisCluster(ctx, {seed: redis.seed, slotsPerShard: 16384, force: true})
    const {shards} = await listShards(ctx)
    const sorted = shards.map((s) => s.value).sort((a, b) => slotsOfRange(a.range).first - slotsOfRange(b.range).first)
    const [shard, second] = sorted
    const from = shard?.replicas[0]?.node
    const to = second?.replicas[0]?.node
    if (!shard || !from || !to) throw new Error('expected one shard per master')
    const {first, end} = slotsOfRange(shard.range)
    const at = new Date().toISOString()
    const move: Move = {id: 'slots-0', plan: 'bench', index: 0, shard: shard.id, from, to, baseEpoch: shard.epoch, epoch: shard.epoch, phase: 'pending', progress: {bytes: 0, keys: 0, totalBytes: 0, rateBytesPerSec: 0, dataRateBytesPerSec: 0, cursor: null, stalled: false}, cancelRequested: false, rollbackRequested: false, reason: null, attempts: 0, createdAt: at, updatedAt: at, cutoverAt: null, copyStartedAt: null}
    await store.put(ctx.keys.move(move.id), JSON.stringify(move))
    const abort = new AbortController()
    const bound = setTimeout(() => abort.abort(), BOUND_MS)
    const load0 = loadavg()[0] ?? 0
    const cpu0 = process.cpuUsage()
    const t0 = performance.now()
    const result = await executePlan(ctx, {limits: {maxConcurrent: 1, perNode: 1}, throttle: null, nodeThrottle: null, options: DEFAULT_EXECUTOR_OPTIONS, confirm: async () => true, holder: 'bench'}, {now: () => Date.now(), sleep: (ms, s) => sleep(ms, undefined, {signal: s}).catch(() => {}), emit: () => {}}, abort.signal)
    const wallS = (performance.now() - t0) / 1000
    const cpu = process.cpuUsage(cpu0)
    clearTimeout(bound)
    const phase = result.moves[0]?.phase ?? 'none'
    const slots = end - first
    console.log(`| slots moved | keys | phase | wall | slots/s (wall) | bench CPU | load avg before → after |`)
    console.log(`|---|---|---|---|---|---|---|`)
    console.log(`| ${slots} | ${result.moves[0]?.bytes === undefined ? '?' : KEYS} | ${phase} | ${wallS.toFixed(1)} s | ${(slots / wallS).toFixed(0)} | ${((cpu.user + cpu.system) / 1e6).toFixed(1)} s | ${load0.toFixed(1)} → ${(loadavg()[0] ?? 0).toFixed(1)} |`)
  } finally {
    client.disconnect()
    store.close()
    await redis.stop()
    await etcd.stop()
    rmSync(dir, {recursive: true, force: true})
  }
}

await main()
