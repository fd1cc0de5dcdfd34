/**
 * bench/scale.ts — the control plane at many shards (`npm run bench:scale`, issue 19).
 *
 * Everything runs on 127.0.0.1 at run-time ports: a private etcd and real `shardctl`
 * processes. For each size (1k and 10k shards; 100k with BENCH_SCALE_100K=1), rf 3 on 12
 * nodes, it times each command as its own process with its peak RSS (`/usr/bin/time`):
 * `cluster init`, `cluster status`, `node list`, `node show`, `moves list`, `shard list
 * --json` (streamed to /dev/null), `plan`; then the start-up of 3 `node serve` processes and
 * one `router serve` until /healthz says serving, with their RSS and CPU; then `top`'s first frame
 * in a pseudo-terminal (`script`), until every node's row is drawn. With the nodes serving it
 * times `cluster status` and `node show` again (they read the nodes' stats summaries) and
 * sizes node n1's published stats: its summary, and its per-replica load pages (largest and
 * all together: the all-together figure is what one `stats/<node>` value held before it was
 * split, past etcd's 1.5 MiB request limit at ~28k replicas).
 *
 * BENCH_SCALE_SIZES=1000,5000 replaces the sizes (quick runs; `none`: the moves part alone). Moves per second: BENCH_SCALE_MOVES (default 1000) tiny (empty) shards on one node of four
 * real node processes, rf 1, drained by the executor in this process (`node drain`), with
 * etcd's KV requests per move (from its /metrics).
 *
 * Ratios against limits measured in the same run: the bare CLI start-up (`shardctl
 * --version`) is printed beside every command, since at these loads it is a large share.
 * Every wait is bounded; everything started is killed at exit.
 */
import {type ChildProcess, spawn} from 'node:child_process'
import {mkdtempSync, readdirSync, readFileSync, statSync} from 'node:fs'
import {cpus, loadavg, tmpdir} from 'node:os'
import {join, resolve} from 'node:path'
import {setTimeout as sleepFor} from 'node:timers/promises'
import {initCluster} from '../src/cluster/initCluster.js'
import {parseNodeSpecs} from '../src/cluster/nodeSpec.js'
import {makeServiceContext} from '../src/cluster/serviceContext.js'
import {resolveConnection} from '../src/config/connectionConfig.js'
import {EtcdStore} from '../src/etcd/etcdStore.js'
import {drainNode} from '../src/executor/drainNode.js'
import {DEFAULT_EXECUTOR_OPTIONS, type ExecutorEvent} from '../src/executor/executorEnv.js'
import {startEtcd} from '../src/localEtcd/etcdProcess.js'
import {BenchLeftovers} from './benchLeftovers.js'
import {freePort} from '../src/localEtcd/freePort.js'

const SIZES = process.env.BENCH_SCALE_SIZES === 'none' ? [] : process.env.BENCH_SCALE_SIZES ? process.env.BENCH_SCALE_SIZES.split(',').map(Number) : [1000, 10_000, ...(process.env.BENCH_SCALE_100K === '1' ? [100_000] : [])]
const MOVES = Number(process.env.BENCH_SCALE_MOVES ?? 1000)
const NODES = 12
/**
 * BEFORE_REQUESTS_PER_MOVE is this bench's etcd KV requests per move measured on the
 * executor before the shared node view (commit 97ee0fd, BENCH_SCALE_MOVES=100): printed
 * beside today's count so a run shows what the change saved.
 */
const BEFORE_REQUESTS_PER_MOVE = '93.6'
const SERVING = 3
/** WAIT_MS bounds every wait for a process to become healthy or draw (BENCH_SCALE_WAIT_MS); one that does not is recorded as timed out. */
const WAIT_MS = Number(process.env.BENCH_SCALE_WAIT_MS ?? 120_000)
const root = resolve(import.meta.dirname, '../..')
const leftovers = new BenchLeftovers()
const children = leftovers.children
const dirs = leftovers.dirs

/** Measured is one process's wall time and peak RSS. */
interface Measured {
  seconds: number
  rssMiB: number
  /** cpuSeconds is user + system CPU (commands: the whole run; node and router start-up: until healthy): less sensitive than wall time to a loaded machine. */
  cpuSeconds?: number
}

/** timed runs `shardctl args` to its end under /usr/bin/time and returns its wall time and peak RSS. */
async function timed(args: string[]): Promise<Measured> {
  const out = join(mkdtempSync(join(tmpdir(), 'shardctl-bench-time-')), 'rss')
  dirs.push(out.slice(0, -4))
  const started = performance.now()
  const child = spawn('/usr/bin/time', ['-f', '%M %U %S', '-o', out, process.execPath, join(root, 'bin/run.js'), ...args], {cwd: root, env: {PATH: process.env.PATH, HOME: process.env.HOME}, stdio: ['ignore', 'ignore', 'pipe']})
  children.push(child)
  let err = ''
  child.stderr!.on('data', (d) => (err += d))
  const code = await new Promise<number | null>((res) => child.on('exit', (c) => res(c)))
  const seconds = (performance.now() - started) / 1000
  if (code !== 0) throw new Error(`shardctl ${args.join(' ')} exited ${code}: ${err.trim().split('\n').at(-1)}`)
  const [rssKiB, user, sys] = (readFileSync(out, 'utf8').trim().split('\n').at(-1) ?? '').split(' ').map(Number)
  return {seconds, rssMiB: (rssKiB ?? NaN) / 1024, cpuSeconds: (user ?? NaN) + (sys ?? NaN)}
}

function spawnCli(args: string[]): {child: ChildProcess; stdout: () => string} {
  const child = spawn(process.execPath, [join(root, 'bin/run.js'), ...args], {cwd: root, env: {PATH: process.env.PATH, HOME: process.env.HOME}, stdio: ['ignore', 'pipe', 'ignore']})
  children.push(child)
  let out = ''
  child.stdout!.on('data', (d) => (out += d))
  return {child, stdout: () => out}
}

async function waitUntil(what: string, fn: () => Promise<boolean>, timeoutMs = WAIT_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (await fn().catch(() => false)) return
    await sleepFor(50)
  }
  throw new Error(`timed out waiting for ${what}`)
}

/** rssMiB reads a live process's resident set (Linux /proc). */
function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return m ? Number(m[1]) / 1024 : NaN
}

/** cpuSeconds reads a live process's user + system CPU so far (Linux /proc; clock ticks of 1/100 s). */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[11]) + Number(fields[12])) / 100
}

/** descendants lists the pids below `pid` (Linux /proc), parents before children. */
function descendants(pid: number): number[] {
  const parentOf = new Map<number, number>()
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
      parentOf.set(Number(entry), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]))
    } catch {
      // the process ended while we looked
    }
  }
  const out: number[] = []
  const walk = (p: number) => {
    for (const [child, parent] of parentOf) if (parent === p) out.push(child), walk(child)
  }
  walk(pid)
  return out
}

function stop(child: ChildProcess): void {
  child.kill('SIGKILL')
}

/** Row is one size's figures. */
interface Row {
  shards: number
  commands: Record<string, Measured>
  nodeStart: Measured
  routerStart: Measured
  topFirstFrame: number
  /** nodeStats is what node n1 publishes as its load stats while serving (see nodeStatsBytes). */
  nodeStats: NodeStatsBytes
  /** etcdDbMiB is the size of etcd's database file after this size's run (cumulative over the sizes run before it). */
  etcdDbMiB: number
}

async function benchSize(endpoint: string, etcdDir: string, shards: number): Promise<Row> {
  const cluster = `scale-${shards}`
  const flags = ['--endpoints', endpoint, '--cluster', cluster]
  const ports: number[] = []
  for (let i = 0; i < NODES; i++) ports.push(await freePort())
  const nodes = ports.map((p, i) => `n${i + 1}=127.0.0.1:${p}@z${i % 3}`).join(',')
  const commands: Record<string, Measured> = {}
  commands['cluster init'] = await timed(['cluster', 'init', ...flags, '--shards', String(shards), '--rf', '3', '--nodes', nodes])
  commands['cluster status'] = await timed(['cluster', 'status', ...flags, '--json'])
  commands['node list'] = await timed(['node', 'list', ...flags, '--json'])
  commands['node show'] = await timed(['node', 'show', 'n1', ...flags, '--json'])
  commands['moves list'] = await timed(['moves', 'list', ...flags, '--json'])
  commands['shard list --json'] = await timed(['shard', 'list', ...flags, '--json'])
  const planDir = mkdtempSync(join(tmpdir(), 'shardctl-bench-plan-'))
  dirs.push(planDir)
  commands['plan'] = await timed(['plan', ...flags, '--out', join(planDir, 'plan.json'), '--no-baseline'])

  // Node and router start-up: until /healthz says serving (the node has loaded its shard map).
  const started = performance.now()
  const nodeProcs = Array.from({length: SERVING}, (_, i) => {
    const dir = mkdtempSync(join(tmpdir(), `shardctl-bench-scale-n${i + 1}-`))
    dirs.push(dir)
    return spawnCli(['node', 'serve', ...flags, '--id', `n${i + 1}`, '--listen', `127.0.0.1:${ports[i]}`, '--data-dir', dir, '--fsync', 'normal']).child
  })
  const nodesUp = await Promise.all(Array.from({length: SERVING}, (_, i) => waitUntil(`node n${i + 1}`, async () => ((await (await fetch(`http://127.0.0.1:${ports[i]}/healthz`)).json()) as {serving: boolean}).serving).then(() => true, () => false)))
  // CPU is the most any one node used up to that moment (less sensitive to load than the wall time).
  const nodeStart = {seconds: nodesUp.every(Boolean) ? (performance.now() - started) / 1000 : Infinity, rssMiB: Math.max(...nodeProcs.map((c) => rssMiB(c.pid ?? 0))), cpuSeconds: Math.max(...nodeProcs.map((c) => cpuSeconds(c.pid ?? 0)))}
  // With nodes publishing load: the status views read their summaries, never the per-replica pages.
  const nodeStats = await nodeStatsBytes(endpoint, cluster, 'n1')
  commands['cluster status, nodes serving'] = await timed(['cluster', 'status', ...flags, '--json'])
  commands['node show, node serving'] = await timed(['node', 'show', 'n1', ...flags, '--json'])
  const routerStarted = performance.now()
  const router = spawnCli(['router', 'serve', ...flags, '--id', 'bench', '--listen', '127.0.0.1:0'])
  const routerUp = await waitUntil('router', async () => {
    const m = / on (127\.0\.0\.1:\d+)/.exec(router.stdout())
    return m !== null && (await fetch(`http://${m[1]}/healthz`)).ok
  }).then(() => true, () => false)
  const routerStart = {seconds: routerUp ? (performance.now() - routerStarted) / 1000 : Infinity, rssMiB: rssMiB(router.child.pid ?? 0), cpuSeconds: cpuSeconds(router.child.pid ?? 0)}

  // top's first frame in a pseudo-terminal: until the last node's row is drawn.
  const topStarted = performance.now()
  const top = spawn('script', ['-qfc', `${process.execPath} ${join(root, 'bin/run.js')} top ${flags.join(' ')}`, '/dev/null'], {cwd: root, env: {PATH: process.env.PATH, HOME: process.env.HOME, TERM: 'xterm-256color', COLUMNS: '160', LINES: '60'}, stdio: ['pipe', 'pipe', 'ignore'], detached: true})
  children.push(top)
  let screen = ''
  top.stdout!.on('data', (d) => (screen += d))
  const drawn = await waitUntil('top first frame', async () => screen.includes(`n${NODES} `)).then(() => true, () => false)
  const topFirstFrame = drawn ? (performance.now() - topStarted) / 1000 : Infinity
  // `script` runs top in a session of its own: kill the whole tree by pid, deepest first.
  for (const pid of [...descendants(top.pid ?? 0).reverse(), top.pid ?? 0]) {
    try {
      process.kill(pid, 'SIGKILL')
    } catch {
      // already gone
    }
  }
  for (const c of [...nodeProcs, router.child]) stop(c)
  return {shards, commands, nodeStart, routerStart, topFirstFrame, nodeStats, etcdDbMiB: statSync(join(etcdDir, 'data', 'member', 'snap', 'db')).size / 1024 / 1024}
}

/** NodeStatsBytes sizes one node's published stats: its `stats/<node>` summary and its `loads/<node>/` pages. */
interface NodeStatsBytes {
  summaryBytes: number
  pages: number
  largestPageBytes: number
  /** totalPageBytes is the per-replica load in all: what the one `stats/<node>` record held before it was split. */
  totalPageBytes: number
}

/** nodeStatsBytes waits (bounded) for `node`'s stats summary and sizes it and its load pages. */
async function nodeStatsBytes(endpoint: string, cluster: string, node: string): Promise<NodeStatsBytes> {
  const store = new EtcdStore(resolveConnection({flags: {endpoints: endpoint, cluster}, env: {}}))
  const ctx = makeServiceContext(store, {cluster})
  try {
    await waitUntil(`stats/${node}`, async () => (await store.get(ctx.keys.stats(node))) !== undefined)
    const summary = await store.get(ctx.keys.stats(node))
    const pages = (await store.list(ctx.keys.nodeLoads(node))).items.map((kv) => Buffer.byteLength(kv.value))
    return {summaryBytes: Buffer.byteLength(summary?.value ?? ''), pages: pages.length, largestPageBytes: Math.max(0, ...pages), totalPageBytes: pages.reduce((a, b) => a + b, 0)}
  } catch {
    return {summaryBytes: NaN, pages: NaN, largestPageBytes: NaN, totalPageBytes: NaN}
  } finally {
    store.close()
  }
}

/**
 * kvRequests is how many KV requests (Range, Txn, Put, DeleteRange) etcd has answered so far,
 * from its own /metrics: every client's requests, counted where they are served.
 */
async function kvRequests(endpoint: string): Promise<number> {
  const text = await (await fetch(`${endpoint}/metrics`)).text()
  let n = 0
  for (const m of text.matchAll(/^grpc_server_handled_total\{[^}]*grpc_service="etcdserverpb\.KV"[^}]*\} (\S+)$/gm)) n += Number(m[1])
  return n
}

/** MovesFigures are the moves bench's results: moves done, wall time, and etcd KV requests (all clients) per move. */
interface MovesFigures {
  moves: number
  seconds: number
  perSec: number
  requestsPerMove: number
}

/** benchMoves drains one node of four (real node processes) holding about `moves` empty shards, rf 1, and returns moves per second and etcd requests per move. */
async function benchMoves(endpoint: string, moves: number): Promise<MovesFigures> {
  const cluster = 'scale-moves'
  const store = new EtcdStore(resolveConnection({flags: {endpoints: endpoint, cluster}, env: {}}))
  const ctx = makeServiceContext(store, {cluster})
  const ids = ['m1', 'm2', 'm3', 'm4']
  const ports: Record<string, number> = {}
  for (const id of ids) ports[id] = await freePort()
  await initCluster(ctx, {shards: moves * ids.length, rf: 1, nodes: parseNodeSpecs(ids.map((id) => `${id}=127.0.0.1:${ports[id]}`).join(',')), force: false})
  const procs = ids.map((id) => {
    const dir = mkdtempSync(join(tmpdir(), `shardctl-bench-moves-${id}-`))
    dirs.push(dir)
    return spawnCli(['node', 'serve', '--endpoints', endpoint, '--cluster', cluster, '--id', id, '--listen', `127.0.0.1:${ports[id]}`, '--data-dir', dir, '--fsync', 'normal']).child
  })
  try {
    for (const id of ids) await waitUntil(`node ${id}`, async () => ((await (await fetch(`http://127.0.0.1:${ports[id]}/healthz`)).json()) as {serving: boolean}).serving)
    const events: ExecutorEvent[] = []
    const requestsBefore = await kvRequests(endpoint)
    const started = performance.now()
    const stopAfter = AbortSignal.timeout(20 * 60_000)
    await drainNode(ctx, 'm4', {limits: {maxConcurrent: 16, perNode: 16}, throttle: null, nodeThrottle: null, options: {...DEFAULT_EXECUTOR_OPTIONS, drainTimeoutMs: 2000}, confirm: async () => true, holder: 'bench-scale'}, {now: () => Date.now(), sleep: (ms, s) => sleepFor(ms, undefined, {signal: s}).catch(() => {}), emit: (e) => events.push(e)}, stopAfter)
    const seconds = (performance.now() - started) / 1000
    const requests = (await kvRequests(endpoint)) - requestsBefore
    const done = events.filter((e) => e.type === 'phase' && e.phase === 'done').length
    return {moves: done, seconds, perSec: done / seconds, requestsPerMove: requests / done}
  } finally {
    for (const c of procs) stop(c)
    store.close()
  }
}

function f(n: number, digits = 2): string {
  if (n === Infinity) return `> ${WAIT_MS / 1000}`
  return Number.isFinite(n) ? n.toFixed(digits) : '-'
}

function mark(ok: boolean): string {
  return ok ? 'met' : 'MISSED'
}

async function main(): Promise<void> {
  const etcdDir = mkdtempSync(join(tmpdir(), 'shardctl-bench-scale-etcd-'))
  dirs.push(etcdDir)
  const etcd = await startEtcd({dataDir: etcdDir, name: 'bench-scale'})
  const loadStart = loadavg()[0] ?? 0
  try {
    const bare = await timed(['--version'])
    const rows: Row[] = []
    for (const n of SIZES) {
      const row = await benchSize(etcd.endpoint, etcdDir, n)
      rows.push(row)
      console.error(`scale bench: ${n} shards done (load ${f(loadavg()[0] ?? 0, 1)}): ${JSON.stringify(row)}`)
    }
    const moves = MOVES > 0 ? await benchMoves(etcd.endpoint, MOVES).catch((err: unknown) => (console.error(`moves: ${String(err)}`), undefined)) : undefined
    console.log(`scale bench: rf 3 on ${NODES} nodes (${SERVING} serving), private etcd on 127.0.0.1; each command its own process (wall s / CPU s / peak RSS MiB)`)
    console.log(`machine: ${cpus().length} CPUs; 1-minute load average ${f(loadStart, 1)} at start, ${f(loadavg()[0] ?? 0, 1)} at end; bare CLI start-up (shardctl --version) ${f(bare.seconds)} s / ${f(bare.cpuSeconds ?? NaN)} s CPU / ${f(bare.rssMiB, 0)} MiB\n`)
    const names = Object.keys(rows[0]?.commands ?? {})
    console.log(`| | ${rows.map((r) => `${r.shards.toLocaleString('en')} shards`).join(' | ')} | target at the largest size |`)
    console.log(`|---|${rows.map(() => '---').join('|')}|---|`)
    const last = rows.at(-1)
    const sub1 = ['cluster status', 'node list', 'node show', 'moves list', 'cluster status, nodes serving', 'node show, node serving']
    for (const name of names) {
      const target = sub1.includes(name) && last ? `< 1 s: ${mark((last.commands[name]?.seconds ?? Infinity) < 1)} (${f((last.commands[name]?.seconds ?? NaN) / bare.seconds, 1)}x bare start-up)` : ''
      console.log(`| ${name} | ${rows.map((r) => `${f(r.commands[name]?.seconds ?? NaN)} s / ${f(r.commands[name]?.cpuSeconds ?? NaN)} s / ${f(r.commands[name]?.rssMiB ?? NaN, 0)} MiB`).join(' | ')} | ${target} |`)
    }
    console.log(`| ${SERVING} nodes healthy (wall / CPU of the busiest node / RSS) | ${rows.map((r) => `${f(r.nodeStart.seconds)} s / ${f(r.nodeStart.cpuSeconds ?? NaN)} s / ${f(r.nodeStart.rssMiB, 0)} MiB`).join(' | ')} | < 5 s: ${mark((last?.nodeStart.seconds ?? Infinity) < 5)} |`)
    console.log(`| router healthy (wall / CPU / RSS) | ${rows.map((r) => `${f(r.routerStart.seconds)} s / ${f(r.routerStart.cpuSeconds ?? NaN)} s / ${f(r.routerStart.rssMiB, 0)} MiB`).join(' | ')} | < 5 s: ${mark((last?.routerStart.seconds ?? Infinity) < 5)} |`)
    console.log(`| etcd db file (cumulative) | ${rows.map((r) => `${f(r.etcdDbMiB, 0)} MiB`).join(' | ')} | |`)
    console.log(`| top first frame | ${rows.map((r) => `${f(r.topFirstFrame)} s`).join(' | ')} | < 2 s: ${mark((last?.topFirstFrame ?? Infinity) < 2)} |`)
    const kib = (b: number) => f(b / 1024, 1)
    console.log(`| n1's stats: summary / load pages, largest page / all pages | ${rows.map((r) => `${f(r.nodeStats.summaryBytes, 0)} B / ${f(r.nodeStats.pages, 0)}, ${kib(r.nodeStats.largestPageBytes)} KiB / ${kib(r.nodeStats.totalPageBytes)} KiB`).join(' | ')} | every value < 1,536 KiB (etcd's request limit): ${mark((last?.nodeStats.largestPageBytes ?? Infinity) < 1536 * 1024)} |`)
    const first = rows[0]
    if (first && last && last !== first) {
      const per = (a: number, b: number) => f(((b - a) * 1024 * 1024) / (last.shards - first.shards), 0)
      console.log(`\nmemory per shard (RSS growth ${first.shards.toLocaleString('en')} -> ${last.shards.toLocaleString('en')} shards): node ${per(first.nodeStart.rssMiB, last.nodeStart.rssMiB)} B, router ${per(first.routerStart.rssMiB, last.routerStart.rssMiB)} B, shard list ${per(first.commands['shard list --json']?.rssMiB ?? NaN, last.commands['shard list --json']?.rssMiB ?? NaN)} B`)
    }
    if (moves) console.log(`\nexecutor: ${moves.moves} tiny moves (empty shards, rf 1, 4 real nodes, 16 concurrent) in ${f(moves.seconds, 1)} s: ${f(moves.perSec)} moves/s, ${f(moves.requestsPerMove, 1)} etcd KV requests per move (every client's, from etcd's /metrics; ${BEFORE_REQUESTS_PER_MOVE} before the shared node view, concurrent move+shard reads and slot refill on a runner's end)`)
  } finally {
    await leftovers.release(etcd)
  }
}

await main()
