/**
 * bench/redis.ts — shardctl against `redis-cli --cluster rebalance` on real Redis Clusters
 * (`npm run bench:redis`).
 *
 * For each contender, a fresh cluster of 3 real redis-server masters on 127.0.0.1 (run-time
 * ports, maxmemory-policy allkeys-lfu so OBJECT FREQ is a load signal, no persistence), made
 * identically skewed:
 *  - slot counts: the first master also takes the second's lowest 2700 slots (8161 / 2762 / 5461);
 *  - operations: a tenth of the slots (1638 contiguous slots on the first master) take
 *    HOT_SHARE of the operations;
 *  - memory: keys in 100 slots of the third master carry 32 KiB values, the rest 100 B.
 * A bounded cluster-aware client load (ioredis, following MOVED/ASK; 80 % GET, 20 % SET) runs
 * from warm-up to the end. The contender rebalances under it:
 *  - redis-cli: `redis-cli --cluster rebalance SEED --cluster-yes` (equal weights);
 *  - shardctl: `cluster init --engine redis`, `plan`, `apply --yes` (etcd private to the bench).
 * Then per-master ops/s (INFO commandstats over MEASURE_MS) and used memory give the worst
 * master over the mean; keys and bytes moved count keys whose slot changed owner; client
 * errors and p99 are those of the rebalance window. Last, an interruption: a second
 * rebalance is stopped (SIGSTOP, so it stays mid-slot) and SIGKILLed while a slot is open with
 * keys on both sides, then re-run
 * (redis-cli: `--cluster rebalance` again; shardctl: `apply --resume`), without `--cluster fix`.
 *
 * Env: BENCH_KEYS (200000), BENCH_CONCURRENCY (16), BENCH_WARM_MS (8000), BENCH_MEASURE_MS (6000),
 * BENCH_HOT_SHARE (0.9). Every phase is bounded in time; everything started is stopped at exit.
 */
import {type ChildProcess, spawn} from 'node:child_process'
import {mkdtempSync, readFileSync, rmSync} from 'node:fs'
import {cpus, loadavg, tmpdir} from 'node:os'
import {join, resolve} from 'node:path'
import {setTimeout as sleep} from 'node:timers/promises'
import {type Cluster, type Redis} from 'ioredis'
import {openClusterClient} from '../src/redis/clusterClient.js'
import {startEtcd} from '../src/localEtcd/etcdProcess.js'
import {isLiveMaster, myself, parseClusterNodes, type RedisClusterNode} from '../src/redis/clusterNodes.js'
import {parseCommandStats} from '../src/redis/commandStats.js'
import {connectRedisNode} from '../src/redis/redisConnection.js'
import {type RealRedisCluster, startRedisCluster} from '../test/support/redisCluster.js'
import {percentile} from './loadPhase.js'
import {seededRandom} from './seededRandom.js'

const KEYS = Number(process.env.BENCH_KEYS ?? 200_000)
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 16)
const WARM_MS = Number(process.env.BENCH_WARM_MS ?? 8000)
const MEASURE_MS = Number(process.env.BENCH_MEASURE_MS ?? 6000)
const HOT_SHARE = Number(process.env.BENCH_HOT_SHARE ?? 0.9)
const HOT_FIRST = 6400
const HOT_END = HOT_FIRST + 1638
const BIG_FIRST = 12_000
const BIG_END = 12_100
const SMALL_VALUE = 'v'.repeat(100)
const BIG_VALUE = 'B'.repeat(32 * 1024)
/** REBALANCE_BOUND_MS: a contender still running after this is killed and reported as timed out. */
const REBALANCE_BOUND_MS = 15 * 60_000
/** MAX_LOAD_OPS bounds the client load whatever the phases take. */
const MAX_LOAD_OPS = 20_000_000
const root = resolve(import.meta.dirname, '../..')
const cliBin = join(root, 'bin/run.js')

/** Dataset: every key, its slot and value size, and the hot keys. */
interface Dataset {
  keys: string[]
  slots: Int16Array
  hot: number[]
}

/** Window is one slice of the client load: operations, errors and latencies. */
class Window {
  ops = 0
  errors = 0
  readonly lat: number[] = []
  firstError = ''
  p99(): number {
    const sorted = Float64Array.from(this.lat).sort()
    return percentile(sorted, 0.99)
  }
}

/** SkewedLoad is the bounded client load: CONCURRENCY workers, HOT_SHARE of operations on hot keys. */
class SkewedLoad {
  private window = new Window()
  private stopped = false
  private total = 0
  private readonly done: Promise<void[]>

  constructor(client: Cluster, data: Dataset, deadlineMs: number) {
    const random = seededRandom(7)
    const deadline = Date.now() + deadlineMs
    this.done = Promise.all(
      Array.from({length: CONCURRENCY}, async () => {
        while (!this.stopped && this.total < MAX_LOAD_OPS && Date.now() < deadline) {
          const i = random() < HOT_SHARE ? (data.hot[Math.floor(random() * data.hot.length)] ?? 0) : Math.floor(random() * data.keys.length)
          const key = data.keys[i] ?? ''
          const w = this.window
          const t0 = performance.now()
          try {
            if (random() < 0.8) await client.get(key)
            else await client.set(key, valueOf(data.slots[i] ?? 0))
            w.ops++
          } catch (err) {
            if (w.errors++ === 0) w.firstError = (err as Error).message
          }
          w.lat.push(performance.now() - t0)
          this.total++
        }
      }),
    )
  }

  /** next closes the current window and opens a new one. */
  next(): Window {
    const w = this.window
    this.window = new Window()
    return w
  }

  async stop(): Promise<void> {
    this.stopped = true
    await this.done
  }
}

function valueOf(slot: number): string {
  return slot >= BIG_FIRST && slot < BIG_END ? BIG_VALUE : SMALL_VALUE
}

/** Row is one contender's outcome. */
interface Row {
  tool: string
  before: Balance
  after: Balance
  keysMoved: number
  bytesMoved: number
  errors: number
  firstError: string
  p99: number
  ops: number
  wallMs: number
  outcome: string
  interrupted: string
}

/** Balance is worst master over the mean, by measured ops/s and by used memory. */
interface Balance {
  opsWorst: number
  memWorst: number
  opsPerMaster: number[]
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'shardctl-bench-redis-'))
  const etcd = await startEtcd({dataDir: join(dir, 'etcd'), name: 'bench-redis'})
  const load0 = loadavg()[0] ?? 0
  const started = Date.now()
  const rows: Row[] = []
  try {
    for (const tool of ['redis-cli', 'shardctl'] as const) rows.push(await runContender(tool, etcd.endpoint, dir))
  } finally {
    await etcd.stop()
    rmSync(dir, {recursive: true, force: true})
  }
  console.log(`\nredis bench: 3 masters (redis-server ${await redisVersion()}), ${KEYS} keys (${BIG_END - BIG_FIRST} slots of 32 KiB values, the rest 100 B), ${(HOT_SHARE * 100).toFixed(0)} % of ops on ${HOT_END - HOT_FIRST} slots; ${CONCURRENCY} clients in flight; load average ${load0.toFixed(2)} at start, ${(loadavg()[0] ?? 0).toFixed(2)} at end, ${cpus().length} CPUs; ${((Date.now() - started) / 1000).toFixed(0)} s in all\n`)
  console.log('| tool | worst master ops/s over mean (before → after) | worst master memory over mean (before → after) | keys moved | bytes moved | client errors during rebalance | client p99 during rebalance | wall time | SIGKILLed mid-slot, then re-run without `--cluster fix` |')
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- |')
  for (const r of rows) {
    console.log(`| ${r.tool} | ${r.before.opsWorst.toFixed(2)} → ${r.after.opsWorst.toFixed(2)} | ${r.before.memWorst.toFixed(2)} → ${r.after.memWorst.toFixed(2)} | ${r.keysMoved} | ${(r.bytesMoved / 2 ** 20).toFixed(1)} MiB | ${r.errors} of ${r.ops}${r.firstError ? ` (${r.firstError.slice(0, 60)})` : ''} | ${r.p99.toFixed(1)} ms | ${(r.wallMs / 1000).toFixed(1)} s${r.outcome ? ` (${r.outcome})` : ''} | ${r.interrupted} |`)
  }
  const [cliRow, ours] = rows
  if (cliRow && ours) {
    const better = ours.after.opsWorst < cliRow.after.opsWorst
    console.log(`\ntargets: shardctl ends better balanced by load than redis-cli (${ours.after.opsWorst.toFixed(2)} vs ${cliRow.after.opsWorst.toFixed(2)}): ${better ? 'met' : 'MISSED'}; shardctl client errors 0: ${ours.errors === 0 ? 'met' : `MISSED (${ours.errors})`}`)
    if (!better || ours.errors > 0) process.exitCode = 1
  }
}

async function runContender(tool: 'redis-cli' | 'shardctl', endpoint: string, dir: string): Promise<Row> {
  process.stderr.write(`[${tool}] starting 3 redis-server masters\n`)
  const redis = await startRedisCluster({masters: 3, replicasPerMaster: 0, serverArgs: ['--maxmemory-policy', 'allkeys-lfu']})
  const client = openClusterClient([{host: '127.0.0.1', port: redis.servers[0]?.port ?? 0}], {scaleReads: 'master'})
  const admin = new Map<string, Redis>()
  let load: SkewedLoad | undefined
  try {
    for (const s of redis.servers) admin.set(s.address, await connectRedisNode(s.address))
    await skewSlots(redis, admin)
    const data = await loadDataset(client, admin.get(redis.seed))
    process.stderr.write(`[${tool}] ${data.keys.length} keys loaded; warming ${WARM_MS} ms\n`)
    load = new SkewedLoad(client, data, REBALANCE_BOUND_MS * 3)
    await sleep(WARM_MS)
    const before = await measureBalance(admin, MEASURE_MS)
    const ownersBefore = await slotOwners(admin)
    const cluster = `bench-${tool.replace(/[^a-z]/g, '')}`
    if (tool === 'shardctl') await cli(['cluster', 'init', '--engine', 'redis', '--seed', redis.seed, '--endpoints', endpoint, '--cluster', cluster], 120_000)
    load.next()
    process.stderr.write(`[${tool}] rebalancing\n`)
    const t0 = performance.now()
    let outcome = ''
    if (tool === 'redis-cli') {
      const r = await run('redis-cli', ['--cluster', 'rebalance', redis.seed, '--cluster-yes'], REBALANCE_BOUND_MS)
      if (r.code !== 0) outcome = `exit ${r.code}: ${lastLine(r.out)}`
    } else {
      const planFile = join(dir, `${cluster}.json`)
      await cli(['plan', '--out', planFile, '--endpoints', endpoint, '--cluster', cluster], 120_000)
      const actions = (JSON.parse(readFileSync(planFile, 'utf8')) as {actions: unknown[]}).actions.length
      let r = await run('node', [cliBin, 'apply', planFile, '--yes', '--endpoints', endpoint, '--cluster', cluster], REBALANCE_BOUND_MS)
      outcome = `${actions} moves`
      // An apply that stopped early (e.g. its etcd lease lapsed on a starved machine) is resumed, as an operator would; the wall time includes it.
      for (let i = 0; i < 10 && r.code !== 0; i++) {
        outcome += `; apply exit ${r.code} (${lastLine(r.out).slice(0, 80)}), resumed`
        if (r.code === 8) await sleep(2000)
        r = await run('node', [cliBin, 'apply', '--resume', '--yes', '--endpoints', endpoint, '--cluster', cluster], REBALANCE_BOUND_MS)
      }
      if (r.code !== 0) outcome += `; resume exit ${r.code}`
    }
    const wallMs = performance.now() - t0
    const during = load.next()
    const after = await measureBalance(admin, MEASURE_MS)
    const ownersAfter = await slotOwners(admin)
    let keysMoved = 0
    let bytesMoved = 0
    data.slots.forEach((slot, i) => {
      if (ownersBefore.get(slot) !== ownersAfter.get(slot)) {
        keysMoved++
        bytesMoved += (data.keys[i]?.length ?? 0) + valueOf(slot).length
      }
    })
    process.stderr.write(`[${tool}] interruption trial\n`)
    const interrupted = await interruptionTrial(tool, redis, admin, endpoint, cluster, dir).catch((err: Error) => `trial failed: ${err.message.slice(0, 160)}`)
    return {tool, before, after, keysMoved, bytesMoved, errors: during.errors, firstError: during.firstError, p99: during.p99(), ops: during.ops + during.errors, wallMs, outcome, interrupted}
  } finally {
    await load?.stop()
    client.disconnect()
    for (const a of admin.values()) a.disconnect()
    await redis.stop()
  }
}

/** skewSlots gives the first master the second master's lowest 2700 slots (the cluster is still empty, so SETSLOT NODE is enough). */
async function skewSlots(redis: RealRedisCluster, admin: Map<string, Redis>): Promise<void> {
  const masters = await mastersBySlot(admin)
  const [a, b] = masters
  if (!a || !b) throw new Error('expected 3 masters')
  const moving = [...b.slots].sort((x, y) => x - y).slice(0, 2700)
  // The giver first (so it stops claiming them), then the taker with a fresh, highest config
  // epoch (so gossip from an older claim cannot win), then the rest; repeated until all agree.
  const assign = async () => {
    for (const target of [b, a, ...masters.slice(2)]) {
      const conn = admin.get(target.address)
      if (!conn) throw new Error(`no admin connection to ${target.address}`)
      const p = conn.pipeline()
      for (const slot of moving) p.call('CLUSTER', 'SETSLOT', String(slot), 'NODE', a.id)
      for (const [err] of (await p.exec()) ?? []) if (err) throw err
      if (target === a) await conn.call('CLUSTER', 'BUMPEPOCH')
    }
  }
  await assign()
  // Every node must agree before keys are written.
  const deadline = Date.now() + 30_000
  for (let round = 0; ; round++) {
    const views = await Promise.all([...admin.values()].map(async (c) => parseClusterNodes(String(await c.call('CLUSTER', 'NODES'))).find((n) => n.id === a.id)?.slots.length))
    if (views.every((v) => v === a.slots.length + moving.length)) break
    if (Date.now() > deadline) throw new Error(`nodes disagree on the skewed slot map: ${views.join(', ')}`)
    await sleep(200)
    if (round % 10 === 9) await assign()
  }
  if (!redis.seed) throw new Error('no seed')
}

/** mastersBySlot lists live masters ordered by their lowest slot. */
async function mastersBySlot(admin: Map<string, Redis>): Promise<RedisClusterNode[]> {
  const any = admin.values().next().value
  if (!any) throw new Error('no redis connection')
  const nodes = parseClusterNodes(String(await any.call('CLUSTER', 'NODES'))).filter(isLiveMaster)
  return nodes.sort((x, y) => Math.min(...x.slots) - Math.min(...y.slots))
}

/** loadDataset writes KEYS keys (slots from the server's own CLUSTER KEYSLOT) and picks the hot ones. */
async function loadDataset(client: Cluster, seed: Redis | undefined): Promise<Dataset> {
  if (!seed) throw new Error('no seed connection')
  const keys = Array.from({length: KEYS}, (_, i) => `k:${i}`)
  const slots = new Int16Array(KEYS)
  for (let i = 0; i < KEYS; i += 10_000) {
    const p = seed.pipeline()
    for (const k of keys.slice(i, i + 10_000)) p.call('CLUSTER', 'KEYSLOT', k)
    ;((await p.exec()) ?? []).forEach(([err, v], j) => {
      if (err) throw err
      slots[i + j] = Number(v)
    })
  }
  for (let i = 0; i < KEYS; i += 2000) await Promise.all(keys.slice(i, i + 2000).map((k, j) => client.set(k, valueOf(slots[i + j] ?? 0))))
  const hot: number[] = []
  slots.forEach((s, i) => {
    if (s >= HOT_FIRST && s < HOT_END) hot.push(i)
  })
  return {keys, slots, hot}
}

/** measureBalance reads each master's data ops/s over `ms` (INFO commandstats) and used memory, and returns worst over mean. */
async function measureBalance(admin: Map<string, Redis>, ms: number): Promise<Balance> {
  const masters = await mastersBySlot(admin)
  const conns = masters.map((m) => admin.get(m.address)).filter((c): c is Redis => c !== undefined)
  const read = async () => Promise.all(conns.map(async (c) => parseCommandStats(String(await c.info('commandstats')))))
  const a = await read()
  const t0 = performance.now()
  await sleep(ms)
  const b = await read()
  const secs = (performance.now() - t0) / 1000
  const ops = a.map((x, i) => ((b[i]?.reads ?? 0) + (b[i]?.writes ?? 0) - x.reads - x.writes) / secs)
  const mem = await Promise.all(conns.map(async (c) => Number(/used_memory:(\d+)/.exec(String(await c.info('memory')))?.[1] ?? 0)))
  const worst = (xs: number[]) => Math.max(...xs) / (xs.reduce((s, x) => s + x, 0) / xs.length)
  return {opsWorst: worst(ops), memWorst: worst(mem), opsPerMaster: ops.map(Math.round)}
}

/** slotOwners maps every slot to its master's id, as the first master sees it. */
async function slotOwners(admin: Map<string, Redis>): Promise<Map<number, string>> {
  const out = new Map<number, string>()
  for (const m of await mastersBySlot(admin)) for (const s of m.slots) out.set(s, m.id)
  return out
}

/** openSlots lists slots some master marks MIGRATING or IMPORTING; `split` when the keys are on both source and target. */
async function openSlots(admin: Map<string, Redis>): Promise<{slot: number; split: boolean}[]> {
  const out: {slot: number; split: boolean}[] = []
  const masters = await mastersBySlot(admin)
  for (const m of masters) {
    const conn = admin.get(m.address)
    if (!conn) continue
    const me = myself(parseClusterNodes(String(await conn.call('CLUSTER', 'NODES'))))
    for (const [slot, to] of me?.migrating ?? []) {
      const target = admin.get(masters.find((x) => x.id === to)?.address ?? '')
      const src = Number(await conn.call('CLUSTER', 'COUNTKEYSINSLOT', String(slot)))
      const dst = target ? Number(await target.call('CLUSTER', 'COUNTKEYSINSLOT', String(slot))) : 0
      out.push({slot, split: src > 0 && dst > 0})
    }
    for (const slot of me?.importing.keys() ?? []) if (!out.some((o) => o.slot === slot)) out.push({slot, split: false})
  }
  return out
}

/** anyMigrating tells (one CLUSTER NODES per master) whether some master marks a slot MIGRATING. */
async function anyMigrating(admin: Map<string, Redis>): Promise<boolean> {
  const views = await Promise.all([...admin.values()].map(async (c) => String(await c.call('CLUSTER', 'NODES'))))
  return views.some((v) => v.includes('->-'))
}

/**
 * interruptionTrial starts a second rebalance that must move slots, SIGKILLs it as soon as a
 * slot is open with keys on both sides, then re-runs the tool's own way of carrying on and
 * reports what was left and whether the re-run closed it.
 */
async function interruptionTrial(tool: 'redis-cli' | 'shardctl', redis: RealRedisCluster, admin: Map<string, Redis>, endpoint: string, cluster: string, dir: string): Promise<string> {
  const masters = await mastersBySlot(admin)
  let child: ChildProcess
  if (tool === 'redis-cli') {
    // Weight 0 on the busiest master by slots: redis-cli empties it, slot by slot.
    const biggest = [...masters].sort((x, y) => y.slots.length - x.slots.length)[0]
    child = spawn('redis-cli', ['--cluster', 'rebalance', redis.seed, '--cluster-yes', '--cluster-weight', `${biggest?.id ?? ''}=0`], {stdio: ['ignore', 'pipe', 'pipe']})
  } else {
    const planFile = join(dir, `${cluster}-ring.json`)
    await cli(['plan', '--strategy', 'ring', '--max-moves', '3', '--out', planFile, '--endpoints', endpoint, '--cluster', cluster], 120_000)
    const actions = (JSON.parse(readFileSync(planFile, 'utf8')) as {actions: unknown[]}).actions.length
    if (actions === 0) return 'not tried: the ring plan had no move'
    child = spawn('node', [cliBin, 'apply', planFile, '--yes', '--batch-keys', '10', '--throttle', '256KiB/s', '--endpoints', endpoint, '--cluster', cluster], {stdio: ['ignore', 'pipe', 'pipe']})
  }
  let said = ''
  child.stdout?.on('data', (d: Buffer) => (said = (said + d.toString()).slice(-4000)))
  child.stderr?.on('data', (d: Buffer) => (said = (said + d.toString()).slice(-4000)))
  const exited = new Promise<void>((res) => child.once('exit', () => res()))
  const deadline = Date.now() + 120_000
  let caught: {slot: number; split: boolean} | undefined
  let tries = 0
  while (!caught && Date.now() < deadline && child.exitCode === null) {
    // Freeze the tool while a slot is open, so the kill lands mid-slot rather than a few round
    // trips later; prefer a slot with keys on both sides, take any open one after 50 tries.
    if (await anyMigrating(admin)) {
      child.kill('SIGSTOP')
      const open = await openSlots(admin)
      caught = open.find((o) => o.split) ?? (++tries > 50 ? open[0] : undefined)
      if (caught) break
      child.kill('SIGCONT')
    }
    await sleep(5)
  }
  const exitBefore = child.exitCode
  child.kill('SIGKILL')
  await exited
  if (!caught) return `no slot caught open (${exitBefore === null ? 'none opened within 120 s' : `the run ended first, exit ${exitBefore}: ${lastLine(said).slice(0, 60)}`})`
  const left = (await openSlots(admin)).length
  let rerun: {code: number | null; out: string}
  if (tool === 'redis-cli') rerun = await run('redis-cli', ['--cluster', 'rebalance', redis.seed, '--cluster-yes'], REBALANCE_BOUND_MS)
  else {
    // The killed executor's lease (10 s TTL) must lapse: LOCK_HELD (exit 8) until then.
    rerun = await run('node', [cliBin, 'apply', '--resume', '--yes', '--endpoints', endpoint, '--cluster', cluster], REBALANCE_BOUND_MS)
    for (let i = 0; i < 15 && rerun.code === 8; i++) {
      await sleep(2000)
      rerun = await run('node', [cliBin, 'apply', '--resume', '--yes', '--endpoints', endpoint, '--cluster', cluster], REBALANCE_BOUND_MS)
    }
  }
  const still = (await openSlots(admin)).length
  const how = tool === 'redis-cli' ? '`--cluster rebalance` again' : '`apply --resume`'
  const keys = (await Promise.all([...admin.values()].map((c) => c.dbsize()))).reduce((a, b) => a + b, 0)
  const verdict = still === 0 && rerun.code === 0 ? 'yes' : 'no'
  return `${verdict}: killed with slot ${caught.slot} open${caught.split ? ' (keys on both sides)' : ''}, ${left} slot(s) left open; ${how} exit ${rerun.code}${rerun.code === 0 ? '' : ` (${lastLine(rerun.out).slice(0, 70)})`}, ${still} open after; ${keys} keys in the cluster`
}

async function cli(args: string[], timeoutMs: number): Promise<string> {
  const r = await run('node', [cliBin, ...args], timeoutMs)
  if (r.code !== 0) throw new Error(`shardctl ${args.slice(0, 2).join(' ')} exited ${r.code}: ${r.out.slice(-800)}`)
  return r.out
}

/** run spawns a command, collects stdout+stderr, and SIGKILLs it after `timeoutMs` (code null). */
function run(cmd: string, args: string[], timeoutMs: number): Promise<{code: number | null; out: string}> {
  return new Promise((res) => {
    const child = spawn(cmd, args, {stdio: ['ignore', 'pipe', 'pipe']})
    let out = ''
    child.stdout.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-20_000)))
    child.stderr.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-20_000)))
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
    child.once('exit', (code) => {
      clearTimeout(timer)
      res({code, out})
    })
  })
}

/** lastLine is the last line of a tool's output that says something (ANSI colours stripped). */
function lastLine(text: string): string {
  // eslint-disable-next-line no-control-regex
  const plain = text.replace(/\x1b\[[0-9;]*m/g, '')
  return plain.trim().split('\n').filter((l) => /\w/.test(l)).pop() ?? ''
}

async function redisVersion(): Promise<string> {
  const r = await run('redis-server', ['--version'], 10_000)
  return /v=(\S+)/.exec(r.out)?.[1] ?? 'unknown'
}

await main()
