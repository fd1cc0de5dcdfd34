import {abortableSleep} from '../clock/abortableSleep.js'
import {mkdirSync, rmSync} from 'node:fs'
import {join} from 'node:path'
import {listShards} from '../cluster/clusterRepo.js'
import {initCluster} from '../cluster/initCluster.js'
import {type NodeSpec} from '../cluster/nodeSpec.js'
import {makeServiceContext, type ServiceContext} from '../cluster/serviceContext.js'
import {readSnapshot} from '../cluster/snapshotService.js'
import {resolveConnection} from '../config/connectionConfig.js'
import {UserError} from '../errors/errors.js'
import {EtcdStore} from '../etcd/etcdStore.js'
import {setThrottle} from '../executor/controlService.js'
import {executePlan} from '../executor/executePlan.js'
import {DEFAULT_EXECUTOR_OPTIONS, type ExecutorEvent} from '../executor/executorEnv.js'
import {type EtcdProcess, startEtcd} from '../localEtcd/etcdProcess.js'
import {freePort} from '../localEtcd/freePort.js'
import {LOCAL_DIR} from '../localEtcd/localEtcdService.js'
import {type Plan} from '../model/plan.js'
import {planRebalance} from '../planner/planRebalance.js'
import {ChildSet, type DemoChild} from './childProcesses.js'
import {type LoadCounters, type SkewedLoad, startSkewedLoad} from './skewedLoad.js'

/** DEMO_CLUSTER is the demo cluster's name in its private etcd. */
export const DEMO_CLUSTER = 'demo'

/** DemoOptions size and pace the demo. */
export interface DemoOptions {
  nodes: number
  rf: number
  shards: number
  /** durationMs bounds the client load (and so the rebalance rounds) in time. */
  durationMs: number
  /** throttleBytesPerSec is the copy throttle the rebalance runs under. */
  throttleBytesPerSec: number
  /** opsPerSecond is the client load's total request rate. */
  opsPerSecond: number
  /** maxRounds bounds plan-and-apply rounds. */
  maxRounds: number
  /** target is the balance target (max node utilisation ÷ mean). */
  target: number
  cwd: string
}

/** DemoReport is what the demo tells its renderer as it goes. */
export type DemoReport =
  | {type: 'step'; text: string}
  | {type: 'line'; text: string}
  | {type: 'ready'; ctx: ServiceContext; endpoint: string}
  | {type: 'plan'; round: number; plan: Plan}
  | {type: 'executor'; event: ExecutorEvent}

/** DemoSummary is the demo's result (its --json output). `ok` is false when a client request or a move failed. */
export interface DemoSummary {
  ok: boolean
  cluster: string
  endpoint: string
  nodes: number
  rf: number
  shards: number
  hotNode: string
  target: number
  /** imbalanceBefore is measured (planner figures on live stats) when the skew showed. */
  imbalanceBefore: number | null
  /** imbalancePredicted is what the last plan predicted after its moves. */
  imbalancePredicted: number | null
  /** imbalanceAfter is measured again after the last round, once load stats settled. */
  imbalanceAfter: number | null
  balanced: boolean
  rounds: number
  moves: {planned: number; done: number; aborted: number; failed: number; skipped: number}
  bytesMoved: number
  rebalanceMs: number
  totalMs: number
  requests: {total: number; errors: number; duringRebalance: number; errorsDuringRebalance: number; firstErrors: string[]}
}

/** demoNodes names `n` nodes, one zone each, on the given loopback ports. */
export function demoNodes(ports: number[]): NodeSpec[] {
  return ports.map((port, i) => ({id: `n${i + 1}`, address: `127.0.0.1:${port}`, zone: `zone-${String.fromCharCode(97 + (i % 26))}`}))
}

/**
 * runDemo tells shardctl's story on real processes, all on 127.0.0.1: a private etcd
 * under `.shardctl/demo/<pid>/`, `nodes` storage nodes and a router (child processes of
 * this package's binary), and a bounded client load skewed so one node runs hot. Once the
 * nodes' load stats show the skew it plans (planRebalance on a fresh snapshot) and applies
 * the plan throttled (executePlan, in process) while the load continues, re-planning until
 * the planner calls the cluster balanced or `maxRounds` / the load's duration run out.
 * Then it stops everything — also when a step fails or `signal` fires (Ctrl-C) — and
 * removes its data. Throws MISSING_DEPENDENCY without etcd; INTERNAL when a process does
 * not come up (with its output).
 */
export async function runDemo(opts: DemoOptions, report: (r: DemoReport) => void, signal: AbortSignal): Promise<DemoSummary> {
  const started = Date.now()
  const dataDir = join(opts.cwd, LOCAL_DIR, 'demo', String(process.pid))
  mkdirSync(dataDir, {recursive: true})
  const children = new ChildSet(dataDir)
  children.guardDir(dataDir)
  const onExit = () => children.killNow()
  process.once('exit', onExit)
  let etcd: EtcdProcess | undefined
  let store: EtcdStore | undefined
  let load: SkewedLoad | undefined
  const check = () => {
    if (signal.aborted) throw new UserError('PRECONDITION', 'demo interrupted', 'nothing was left running')
  }
  const sleep = (ms: number) => abortableSleep(ms, signal)
  try {
    report({type: 'step', text: 'starting a private etcd'})
    etcd = await startEtcd({dataDir: join(dataDir, 'etcd'), name: 'shardctl-demo'})
    children.guard(etcd.pid)
    report({type: 'line', text: `started a private etcd at ${etcd.endpoint} (data in ${join(LOCAL_DIR, 'demo', String(process.pid))})`})
    check()
    const conn = resolveConnection({flags: {endpoints: etcd.endpoint, cluster: DEMO_CLUSTER}, env: {}})
    store = new EtcdStore(conn)
    const ctx = makeServiceContext(store, conn)
    const ports = await Promise.all(Array.from({length: opts.nodes}, () => freePort()))
    const specs = demoNodes(ports)
    const init = await initCluster(ctx, {shards: opts.shards, rf: opts.rf, nodes: specs, force: true})
    report({type: 'line', text: `created cluster "${DEMO_CLUSTER}": ${init.shards} shards, rf ${init.rf}, nodes ${init.nodes.map((n) => `${n.id} (${n.replicas} replicas)`).join(', ')}`})

    report({type: 'step', text: `starting ${opts.nodes} storage nodes and a router`})
    const nodes = specs.map((s, i) => {
      const dir = join(dataDir, s.id)
      mkdirSync(dir, {recursive: true})
      const args = ['node', 'serve', '--endpoints', etcd!.endpoint, '--cluster', DEMO_CLUSTER, '--id', s.id, '--listen', s.address, '--data-dir', dir, '--zone', s.zone]
      return {spec: s, port: ports[i]!, child: children.shardctl(`node ${s.id}`, [...args, '--stats-interval', '1s', '--lease-ttl', '5s', '--fsync', 'normal', '--shutdown-timeout', '3s'])}
    })
    let routerOut = ''
    const router = children.shardctl('router', ['router', 'serve', '--endpoints', etcd.endpoint, '--cluster', DEMO_CLUSTER, '--id', 'demo-router', '--listen', '127.0.0.1:0', '--lease-ttl', '5', '--drain-timeout', '2s'], (t) => (routerOut += t))
    await Promise.all(nodes.map((n) => waitServing(n.child, `http://${n.spec.address}/healthz`, signal)))
    const routerAddress = await waitFor(router, () => / on (127\.0\.0\.1:\d+)/.exec(routerOut)?.[1], signal)
    await waitServing(router, `http://${routerAddress}/healthz`, signal)
    report({type: 'line', text: `${opts.nodes} storage nodes serving (${nodes.map((n) => `${n.spec.id} :${n.port}`).join(', ')}); router at ${routerAddress}`})
    report({type: 'ready', ctx, endpoint: etcd.endpoint})
    check()

    const hotNode = specs[0]!.id
    const {shards} = await listShards(ctx)
    report({type: 'step', text: `client load on, skewed towards ${hotNode}`})
    load = startSkewedLoad(
      shards.map((s) => s.value),
      {router: routerAddress, hotNode, hotShare: 0.9, workers: 4, opsPerSecond: opts.opsPerSecond, keySpace: 3000, valueBytes: 2048, maxOps: Math.ceil((opts.opsPerSecond * opts.durationMs) / 1000) + 100, maxMs: opts.durationMs},
    )
    const loadEnds = Date.now() + opts.durationMs
    report({type: 'line', text: `client load: ${opts.opsPerSecond} requests/s through the router, 90% on keys of shards ${hotNode} holds, for at most ${Math.round(opts.durationMs / 1000)} s`})

    // Wait (bounded) until the nodes' published stats show the skew: the hot node is the
    // most loaded one, outside the target, three probes in a row (early stats are noisy).
    let planId = 0
    const plan = async (label: string) => planRebalance(await readSnapshot(ctx), {maxImbalance: opts.target}, {id: `demo-${label}-${process.pid}-${++planId}`, createdAt: new Date().toISOString()}, {baseline: false})
    let before: Plan | undefined
    const loadStarted = Date.now()
    const skewBy = loadStarted + Math.min(30_000, opts.durationMs / 2)
    let streak = 0
    while (Date.now() < skewBy) {
      await sleep(1000)
      check()
      before = await plan('probe')
      const hottest = [...before.nodes].sort((a, b) => b.before.utilisation - a.before.utilisation)[0]
      streak = hottest?.id === hotNode && before.summary.status !== 'balanced' ? streak + 1 : 0
      report({type: 'step', text: `waiting for load stats to show the skew: ${hottest ? `${hottest.id} at ${hottest.before.utilisation.toFixed(2)}x the mean` : 'no stats yet'} (target ${opts.target}x)`})
      if (streak >= 3 && Date.now() - loadStarted >= 5000) break
    }
    const imbalanceBefore = before?.summary.imbalanceBefore ?? null
    report({type: 'line', text: `load stats show ${hotNode} running hot: imbalance ${imbalanceBefore?.toFixed(2) ?? 'n/a'}x the mean (target ${opts.target}x)`})

    await setThrottle(ctx, opts.throttleBytesPerSec)
    const atRebalance = load.counters()
    const rebalanceStarted = Date.now()
    const moves = {planned: 0, done: 0, aborted: 0, failed: 0, skipped: 0}
    let bytesMoved = 0
    let rounds = 0
    let predicted: number | null = null
    let last: Plan | undefined
    while (rounds < opts.maxRounds && Date.now() < loadEnds - 3000) {
      check()
      const p = await plan(`r${rounds + 1}`)
      last = p
      // An `unreachable` plan still improves the spread as far as the rules allow: apply it too.
      if (p.summary.status === 'balanced' || p.actions.length === 0) break
      rounds++
      predicted = p.summary.imbalanceAfter
      moves.planned += p.summary.moves
      report({type: 'step', text: `round ${rounds}: applying ${p.summary.moves} moves under a ${Math.round(opts.throttleBytesPerSec / 1024)} KiB/s throttle`})
      report({type: 'plan', round: rounds, plan: p})
      const result = await executePlan(
        ctx,
        {
          plan: p,
          limits: {maxConcurrent: 2, perNode: 1},
          throttle: opts.throttleBytesPerSec,
          nodeThrottle: null,
          options: {...DEFAULT_EXECUTOR_OPTIONS, chunkBytes: 8 * 1024, drainTimeoutMs: 5000, cleanupGraceMs: 0, barrierTimeoutMs: 15_000},
          confirm: async () => true,
          holder: 'shardctl demo',
        },
        {now: () => Date.now(), sleep: (ms) => sleep(ms), emit: (event) => report({type: 'executor', event})},
        signal,
      )
      for (const m of result.moves) if (m.phase in moves) moves[m.phase as keyof typeof moves]++
      bytesMoved += result.bytesCopied
      report({type: 'line', text: `round ${rounds}: ${result.moves.filter((m) => m.phase === 'done').length}/${result.moves.length} moves done, ${formatKiB(result.bytesCopied)} copied in ${(result.durationMs / 1000).toFixed(1)} s`})
      if (result.stopped) break
      // Moved replicas' load ramps up on their new node (stats are smoothed over ~10 s).
      report({type: 'step', text: `round ${rounds} done: letting load stats settle`})
      await sleep(Math.max(0, Math.min(10_000, loadEnds - Date.now() - 3000)))
    }
    check()
    const rebalanceMs = Date.now() - rebalanceStarted
    const atEnd = load.counters()
    const after = last && rounds === 0 ? last : await plan('final')
    const final = await load.stop()
    load = undefined
    const summary: DemoSummary = {
      ok: final.errors === 0 && moves.failed === 0 && moves.aborted === 0,
      cluster: DEMO_CLUSTER,
      endpoint: etcd.endpoint,
      nodes: opts.nodes,
      rf: opts.rf,
      shards: opts.shards,
      hotNode,
      target: opts.target,
      imbalanceBefore,
      imbalancePredicted: predicted,
      imbalanceAfter: after.summary.imbalanceBefore,
      balanced: after.summary.status === 'balanced',
      rounds,
      moves,
      bytesMoved,
      rebalanceMs,
      totalMs: Date.now() - started,
      requests: {total: final.requests, errors: final.errors, duringRebalance: atEnd.requests - atRebalance.requests, errorsDuringRebalance: atEnd.errors - atRebalance.errors, firstErrors: final.firstErrors},
    }
    report({type: 'step', text: 'stopping everything'})
    return summary
  } finally {
    await load?.stop().catch(() => {})
    await children.stopAll()
    store?.close()
    await etcd?.stop()
    children.release()
    process.off('exit', onExit)
    rmSync(dataDir, {recursive: true, force: true})
  }
}

function formatKiB(bytes: number): string {
  return `${(bytes / 1024).toFixed(1)} KiB`
}

/** waitFor polls `get` until it gives a value (bounded: 90 s), failing early when `child` exits. */
async function waitFor<T>(child: DemoChild, get: () => T | undefined, signal: AbortSignal): Promise<T> {
  const deadline = Date.now() + 90_000
  while (Date.now() < deadline && !signal.aborted) {
    const v = get()
    if (v !== undefined) return v
    if (child.exited()) throw new UserError('INTERNAL', `${child.name} exited while starting: ${child.output().slice(-600)}`)
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new UserError(signal.aborted ? 'PRECONDITION' : 'INTERNAL', signal.aborted ? 'demo interrupted' : `${child.name} did not start within 90 s: ${child.output().slice(-600)}`)
}

/** waitServing waits (bounded: 90 s) until `url` (a /healthz) answers 200 and does not say it is not serving yet. */
async function waitServing(child: DemoChild, url: string, signal: AbortSignal): Promise<void> {
  const deadline = Date.now() + 90_000
  while (Date.now() < deadline && !signal.aborted) {
    if (child.exited()) throw new UserError('INTERNAL', `${child.name} exited while starting: ${child.output().slice(-600)}`)
    try {
      const res = await fetch(url, {signal: AbortSignal.timeout(1000)})
      const body = (await res.json().catch(() => ({}))) as {serving?: boolean}
      if (res.ok && body.serving !== false) return
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 150))
  }
  throw new UserError(signal.aborted ? 'PRECONDITION' : 'INTERNAL', signal.aborted ? 'demo interrupted' : `${child.name} did not serve within 90 s: ${child.output().slice(-600)}`)
}
