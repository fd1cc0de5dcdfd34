import {spawnSync} from 'node:child_process'
import {availableParallelism, loadavg} from 'node:os'
import {fileURLToPath} from 'node:url'
import {loadOutsideTarget, nodeFigures} from '../src/planner/planFigures.js'
import {planRebalance} from '../src/planner/planRebalance.js'
import {resolvePlanOptions} from '../src/planner/options.js'
import {ClusterState} from '../src/planner/clusterState.js'
import {bytesLowerBound} from './bytesLowerBound.js'
import {naivePlan} from './naivePlanner.js'
import {newNodeCluster} from './newNodeCluster.js'
import {syntheticCluster} from './syntheticCluster.js'

/**
 * The planner benchmark (`npm run bench:planner`). Each strategy and size runs in its own
 * child process, so plan time and peak RSS are measured alone. Every row uses the same
 * seeded synthetic cluster and the same target (max 1.05 x the mean), so the ratios compare.
 */

const TARGET = 1.05
const SEED = 42
const ZIPF = 0.6
const SIZES: [number, number][] = [
  [100, 10_000],
  [1000, 100_000],
  [10_000, 1_000_000],
]
const STRATEGIES = ['balance', 'ring', 'naive'] as const
type Strategy = (typeof STRATEGIES)[number]
/** HUGE_SHARDS: at this size only `balance` runs, once (its ring baseline included): the row measures that the planner finishes, in what time and memory. */
const HUGE_SHARDS = 1_000_000
/** splitsAllowed: the huge row plans as `shardctl plan --allow-split` would have to (a Zipf-hot shard there is too hot for any node, so without splits the plan is `unreachable`). */
function splitsAllowed(shards: number): boolean {
  return shards >= HUGE_SHARDS
}
/** MAX_SHARDS (env BENCH_PLANNER_MAX_SHARDS) skips the sizes above it, for a quick check that the bench runs. */
const MAX_SHARDS = Number(process.env.BENCH_PLANNER_MAX_SHARDS ?? Infinity)
/** strategiesFor lists the rows run at a size. */
function strategiesFor(shards: number): readonly Strategy[] {
  return shards >= HUGE_SHARDS ? ['balance'] : STRATEGIES
}

interface Row {
  strategy: Strategy
  nodes: number
  shards: number
  planMs: number
  planCpuMs: number
  /** planOnlyMs: balance run a second time without its ring baseline, in the same process. */
  planOnlyMs?: number
  planOnlyCpuMs?: number
  peakRssMiB: number
  snapshotRssMiB: number
  maxOverMean: number
  loadMoved: number
  lowerBound: number
  bytesMoved: number
  bytesFloor: number
  actions: number
  status: string
}

/** measure runs `fn` and returns its result with wall time and this process's CPU time (user + system), both in ms. */
function measure<T>(fn: () => T): {value: T; wallMs: number; cpuMs: number} {
  const cpu = process.cpuUsage()
  const t = performance.now()
  const value = fn()
  const wallMs = performance.now() - t
  const used = process.cpuUsage(cpu)
  return {value, wallMs, cpuMs: (used.user + used.system) / 1000}
}

function worker(strategy: Strategy, nodes: number, shards: number): Row {
  const snapshot = syntheticCluster({nodes, shards, rf: 3, zipf: ZIPF, seed: SEED})
  const snapshotRssMiB = process.memoryUsage().rss / 2 ** 20
  let figures: {utilisation: number}[]
  let inPool: (i: number) => boolean
  let loadMoved: number
  let lowerBound: number
  let bytesMoved: number
  let actions: number
  let status: string
  let planOnly: {wallMs: number; cpuMs: number} | undefined
  if (strategy === 'naive') {
    const initial = ClusterState.fromSnapshot(snapshot, resolvePlanOptions({maxImbalance: TARGET}))
    lowerBound = loadOutsideTarget(initial)
    const timed = measure(() => naivePlan(snapshot, TARGET))
    const {state, log} = timed.value
    figures = nodeFigures(state)
    inPool = (i) => state.model.inPool[i] === 1
    ;({loadMoved, bytes: bytesMoved} = log)
    actions = log.actions.length
    status = figures.every((f, i) => !inPool(i) || f.utilisation <= TARGET) ? 'within target' : 'stuck'
    return finish(timed)
  }
  const timed = measure(() => planRebalance(snapshot, {strategy, maxImbalance: TARGET, allowSplit: splitsAllowed(shards)}, {id: 'bench', createdAt: '2025-01-01T00:00:00.000Z'}))
  const plan = timed.value
  if (strategy === 'balance' && shards < HUGE_SHARDS) planOnly = measure(() => planRebalance(snapshot, {strategy, maxImbalance: TARGET}, {id: 'bench', createdAt: '2025-01-01T00:00:00.000Z'}, {baseline: false}))
  figures = plan.nodes.map((n) => n.after)
  inPool = (i) => plan.nodes[i]!.state !== 'draining'
  loadMoved = plan.summary.loadMoved
  lowerBound = plan.summary.loadOutsideTarget
  bytesMoved = plan.summary.bytesToMove
  actions = plan.actions.length
  status = `${plan.summary.status} (${plan.summary.stopReason})`
  return finish(timed)

  function finish(time: {wallMs: number; cpuMs: number}): Row {
    const pool = figures.filter((_, i) => inPool(i)).map((f) => f.utilisation)
    const mean = pool.reduce((a, b) => a + b, 0) / pool.length
    const peakRssMiB = process.resourceUsage().maxRSS / 1024
    return {
      strategy,
      nodes,
      shards,
      planMs: time.wallMs,
      planCpuMs: time.cpuMs,
      planOnlyMs: planOnly?.wallMs,
      planOnlyCpuMs: planOnly?.cpuMs,
      peakRssMiB,
      snapshotRssMiB,
      maxOverMean: Math.max(...pool) / mean,
      loadMoved,
      lowerBound,
      bytesMoved,
      bytesFloor: bytesLowerBound(ClusterState.fromSnapshot(snapshot, resolvePlanOptions({maxImbalance: TARGET}))),
      actions,
      status,
    }
  }
}

/** NEW_NODE_SHARDS: the "add one node to 6 nodes" rows (issue 13), each at the default options. */
const NEW_NODE_SHARDS = [2048, 8192]

interface NewNodeRow {
  shards: number
  planMs: number
  planCpuMs: number
  peakRssMiB: number
  maxAfter: number
  newNode: number
  loadMoved: number
  lowerBound: number
  moves: number
  status: string
}

/** newNodeWorker plans "add one empty node (own zone) to 6 nodes x `shards` shards at rf 3" with default options. */
function newNodeWorker(shards: number): NewNodeRow {
  const snapshot = newNodeCluster({shards, seed: SEED, newZone: 'z4'})
  const timed = measure(() => planRebalance(snapshot, {}, {id: 'bench', createdAt: '2025-01-01T00:00:00.000Z'}))
  const plan = timed.value
  return {
    shards,
    planMs: timed.wallMs,
    planCpuMs: timed.cpuMs,
    peakRssMiB: process.resourceUsage().maxRSS / 1024,
    maxAfter: plan.summary.imbalanceAfter,
    newNode: plan.nodes.find((n) => n.id === 'n7')!.after.utilisation,
    loadMoved: plan.summary.loadMoved,
    lowerBound: plan.summary.loadOutsideTarget,
    moves: plan.summary.moves,
    status: `${plan.summary.status} (${plan.summary.stopReason})`,
  }
}

function newNodeRows(self: string): void {
  console.log('\nadd one node: 6 equal nodes in 3 zones, rf 3, mildly uneven load (0.7..1.3x per shard), one empty node added in a 4th zone; default options (target 1.10x)\n')
  const header = ['case', 'plan time wall / CPU', 'peak RSS', 'max after', 'new node after', 'load moved / lower bound', 'moves', 'result']
  const rows: string[][] = []
  for (const shards of NEW_NODE_SHARDS) {
    const child = spawnSync(process.execPath, [self, '--new-node', String(shards)], {encoding: 'utf8', maxBuffer: 1 << 24})
    if (child.status !== 0) {
      console.error(child.stderr)
      process.exit(1)
    }
    const r = JSON.parse(child.stdout.trim().split('\n').at(-1)!) as NewNodeRow
    rows.push([
      `add one node to 6 nodes x ${r.shards.toLocaleString('en-US')} shards`,
      `${secs(r.planMs)} / ${secs(r.planCpuMs)}`,
      `${r.peakRssMiB.toFixed(0)} MiB`,
      `${r.maxAfter.toFixed(3)}x`,
      `${r.newNode.toFixed(3)}x`,
      `${r.loadMoved.toFixed(3)} / ${r.lowerBound.toFixed(3)} = ${(r.loadMoved / r.lowerBound).toFixed(2)}`,
      String(r.moves),
      r.status,
    ])
  }
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)))
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`
  console.log(line(header))
  console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`)
  for (const r of rows) console.log(line(r))
}

function secs(ms: number): string {
  return `${(ms / 1000).toFixed(2)} s`
}

function main(): void {
  const self = fileURLToPath(import.meta.url)
  console.log(`planner bench: seeded synthetic clusters (seed ${SEED}, Zipf ${ZIPF} reads and writes, log-normal sizes, 3 zones, capacities 1x/2x, one node added, one draining), rf 3, target ${TARGET}x the mean`)
  console.log('each row runs in its own process; plan time excludes building the snapshot; peak RSS is the whole process (snapshot included)')
  console.log(`machine: ${availableParallelism()} CPUs, 1-minute load average ${loadavg()[0]!.toFixed(1)} at start\n`)
  const header = ['nodes x shards', 'strategy', 'plan time wall / CPU', 'peak RSS', 'max/mean after', 'load moved / lower bound', 'bytes moved', 'actions', 'result']
  const rows: string[][] = []
  for (const [nodes, shards] of SIZES.filter(([, shards]) => shards <= MAX_SHARDS)) {
    for (const strategy of strategiesFor(shards)) {
      const child = spawnSync(process.execPath, ['--max-old-space-size=12288', self, '--worker', strategy, String(nodes), String(shards)], {encoding: 'utf8', maxBuffer: 1 << 24})
      if (child.status !== 0) {
        console.error(child.stderr)
        process.exit(1)
      }
      const r = JSON.parse(child.stdout.trim().split('\n').at(-1)!) as Row
      rows.push([
        shards >= HUGE_SHARDS ? `${nodes} x ${shards / 1e6}M` : `${nodes} x ${shards / 1000}k`,
        splitsAllowed(shards) ? `${strategy} --allow-split` : strategy,
        `${secs(r.planMs)} / ${secs(r.planCpuMs)}${r.planOnlyMs === undefined ? '' : ` (${secs(r.planOnlyMs)} / ${secs(r.planOnlyCpuMs!)} without baseline)`}`,
        `${r.peakRssMiB.toFixed(0)} MiB`,
        r.maxOverMean.toFixed(3),
        `${r.loadMoved.toFixed(1)} / ${r.lowerBound.toFixed(1)} = ${(r.loadMoved / r.lowerBound).toFixed(2)}`,
        `${(r.bytesMoved / 2 ** 30).toFixed(0)} GiB (floor ${(r.bytesFloor / 2 ** 30).toFixed(0)})`,
        String(r.actions),
        r.status,
      ])
    }
  }
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)))
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`
  console.log(line(header))
  console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`)
  for (const r of rows) console.log(line(r))
  console.log(`\n1-minute load average ${loadavg()[0]!.toFixed(1)} at the end`)
  console.log('load is in average-node units; the lower bound is the load outside the target band before planning (draining nodes count whole).')
  console.log('balance includes computing its ring baseline (as `shardctl plan` does); the time without it is a second run in the same process.')
  console.log('bytes floor: draining nodes\' bytes plus, per node above target, the fewest bytes whose load covers its excess (ignores where load can go), so no plan reaching the target copies less.')
  newNodeRows(self)
}

const at = process.argv.indexOf('--worker')
const newNodeAt = process.argv.indexOf('--new-node')
if (newNodeAt >= 0) {
  console.log(JSON.stringify(newNodeWorker(Number(process.argv[newNodeAt + 1]))))
} else if (at >= 0) {
  const [strategy, nodes, shards] = process.argv.slice(at + 1)
  console.log(JSON.stringify(worker(strategy as Strategy, Number(nodes), Number(shards))))
} else {
  main()
}
