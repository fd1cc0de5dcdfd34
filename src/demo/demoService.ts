import {abortableSleep} from '../clock/abortableSleep.js'
import {listShards} from '../cluster/clusterRepo.js'
import {type ServiceContext} from '../cluster/serviceContext.js'
import {UserError} from '../errors/errors.js'
import {setThrottle} from '../executor/controlService.js'
import {type ExecutorEvent} from '../executor/executorEnv.js'
import {type Plan} from '../model/plan.js'
import {DemoActs} from './demoActs.js'
import {DEMO_CLUSTER, type DemoCluster, startDemoCluster} from './demoCluster.js'
import {DEMO_USER} from './demoSecurity.js'
import {awaitSkew, runFullStory, runRounds, settleRound} from './demoStory.js'
import {type KeptDemo} from './keptDemo.js'
import {preloadData} from './preload.js'
import {type LoadCounters, type SkewedLoad, startSkewedLoad} from './skewedLoad.js'

export {DEMO_CLUSTER, demoNodes} from './demoCluster.js'

/** DemoOptions size and pace the demo. */
export interface DemoOptions {
  /** fast runs the short story (skew, rebalance rounds) for tests; otherwise the full one (load data, add a node, relieve the hot node, drain a node). */
  fast: boolean
  nodes: number
  rf: number
  shards: number
  /** durationMs bounds the client load in time (fast mode: the rebalance rounds happen inside it). */
  durationMs: number
  /** throttleBytesPerSec is the copy throttle the rebalance runs under. */
  throttleBytesPerSec: number
  /** drainThrottleBytesPerSec is the throttle of the drain act (full story only). */
  drainThrottleBytesPerSec: number
  /** preloadBytes is how much data the full story writes before the load starts. */
  preloadBytes: number
  /** movesPerAct bounds the moves of the add-node and hot-node acts (full story only). */
  movesPerAct: number
  /** opsPerSecond is the client load's total request rate. */
  opsPerSecond: number
  /** maxRounds bounds plan-and-apply rounds (fast mode). */
  maxRounds: number
  /** target is the balance target (max node utilisation ÷ mean). */
  target: number
  cwd: string
  /** secure runs every hop over TLS with routers demanding a user's token (see demoSecurity.ts). */
  secure: boolean
  /** keep leaves the cluster running after the story (the client load stops); `shardctl demo stop` removes it. */
  keep: boolean
}

/** DemoReport is what the demo tells its renderer as it goes. */
export type DemoReport =
  | {type: 'step'; text: string}
  | {type: 'line'; text: string}
  | {type: 'ready'; ctx: ServiceContext; endpoint: string}
  | {type: 'plan'; round: number; title: string; plan: Plan}
  | {type: 'executor'; event: ExecutorEvent}

/** ActSummary is one planned-and-applied step of the story. */
export interface ActSummary {
  title: string
  planned: number
  done: number
  bytes: number
  ms: number
}

/** NodeUtilisation is one node's utilisation (1 = the cluster mean) before the first act and at the end; null when unknown (not there, no stats). */
export interface NodeUtilisation {
  node: string
  before: number | null
  after: number | null
}

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
  /** imbalanceAfter is measured again after the last act, once load stats settled. */
  imbalanceAfter: number | null
  balanced: boolean
  rounds: number
  acts: ActSummary[]
  utilisation: NodeUtilisation[]
  moves: {planned: number; done: number; aborted: number; failed: number; skipped: number}
  bytesMoved: number
  rebalanceMs: number
  totalMs: number
  requests: {total: number; errors: number; duringRebalance: number; errorsDuringRebalance: number; worstMs: number; firstErrors: string[]}
  /** security says what protected the data plane: TLS on every hop (nodes, router, copies) and router authentication, with the user the clients were. */
  security: {tls: boolean; auth: boolean; user: string | null}
  /** kept is where the cluster still runs and how to reach it (`--keep`), null when everything was stopped. */
  kept: KeptDemo | null
}

/**
 * runDemo tells shardctl's story on real processes, all on 127.0.0.1 (see
 * startDemoCluster): a bounded client load skewed so one node runs hot, and — once the
 * nodes' load stats show it — plan-and-apply acts under a throttle while the load
 * continues. The full story loads data first, then adds a node and fills it, relieves the
 * hot node and drains a node, each planned (the plan is reported) and applied. `fast`
 * re-plans a rebalance until balanced or `maxRounds` / `durationMs` run out. Everything is
 * stopped and removed at the end, also when a step fails or `signal` fires (Ctrl-C).
 * Throws MISSING_DEPENDENCY without etcd; INTERNAL when a process does not come up;
 * INTERRUPTED (exit 130, as every command stopped by Ctrl-C or SIGTERM) when interrupted.
 */
export async function runDemo(opts: DemoOptions, report: (r: DemoReport) => void, signal: AbortSignal): Promise<DemoSummary> {
  const started = Date.now()
  const check = () => {
    if (signal.aborted) throw new UserError('INTERRUPTED', 'demo interrupted', 'nothing was left running')
  }
  const sleep = (ms: number) => abortableSleep(ms, signal)
  let cluster: DemoCluster | undefined
  let load: SkewedLoad | undefined
  try {
    cluster = await startDemoCluster({nodes: opts.nodes, rf: opts.rf, shards: opts.shards, cwd: opts.cwd, secure: opts.secure, keep: opts.keep}, report, signal)
    const {ctx} = cluster
    report({type: 'ready', ctx, endpoint: cluster.endpoint})
    check()

    // The full story's new node boots while the data loads (a process start takes seconds on
    // a busy machine); it registers empty and holds nothing until act 1 plans for it.
    const joining = opts.fast ? undefined : cluster.addNode(signal)
    joining?.catch(() => {}) // awaited in act 1; this only keeps an early failure from being unhandled
    if (!opts.fast) {
      report({type: 'step', text: `loading ${Math.round(opts.preloadBytes / 1024 / 1024)} MiB of data through the router`})
      const loaded = await preloadData({router: cluster.router, credentials: cluster.credentials, bytes: opts.preloadBytes, valueBytes: 32 * 1024, concurrency: 6, maxMs: 180_000}, signal, (done) => report({type: 'step', text: `loading data: ${Math.round(done / 1024 / 1024)} of ${Math.round(opts.preloadBytes / 1024 / 1024)} MiB`}))
      report({type: 'line', text: `loaded ${loaded.keys} keys, ${Math.round(loaded.bytes / 1024 / 1024)} MiB (×${opts.rf} replicas) in ${(loaded.ms / 1000).toFixed(1)} s`})
      check()
    }

    const hotNode = cluster.specs[0]?.id ?? 'n1'
    const {shards} = await listShards(ctx)
    report({type: 'step', text: `client load on, skewed towards ${hotNode}`})
    // The full story ends when its acts do; its load is bounded by a generous time instead.
    const loadMs = opts.fast ? opts.durationMs : Math.max(opts.durationMs, 600_000)
    load = startSkewedLoad(
      shards.map((s) => s.value),
      {router: cluster.router, credentials: cluster.credentials, hotNode, hotShare: 0.9, workers: 4, opsPerSecond: opts.opsPerSecond, keySpace: 3000, valueBytes: 2048, maxOps: Math.ceil((opts.opsPerSecond * loadMs) / 1000) + 100, maxMs: loadMs},
    )
    const loadEnds = Date.now() + loadMs
    report({type: 'line', text: `client load: ${opts.opsPerSecond} requests/s through the router, 90% on keys of shards ${hotNode} holds`})

    const acts = new DemoActs(ctx, opts.target, report, sleep, signal)
    const io = {report, sleep, check}
    const before = await awaitSkew(acts, hotNode, opts.target, loadMs, io)
    const imbalanceBefore = before?.summary.imbalanceBefore ?? null
    // The node that joins in act 1 was not part of the cluster the story starts from.
    const joinedId = opts.fast ? undefined : `n${opts.nodes + 1}`
    const utilisationBefore = new Map((before?.nodes ?? []).filter((n) => n.id !== joinedId).map((n) => [n.id, n.before.utilisation]))
    report({type: 'line', text: `load stats show ${hotNode} running hot: imbalance ${imbalanceBefore?.toFixed(2) ?? 'n/a'}x the mean (target ${opts.target}x)`})

    await setThrottle(ctx, opts.throttleBytesPerSec)
    const atRebalance = load.counters()
    const rebalanceStarted = Date.now()
    if (joining) {
      await runFullStory(acts, cluster, opts, hotNode, joining, io)
      report({type: 'step', text: 'the story is told: letting load stats settle for the summary'})
      await sleep(3000)
      await settleRound(acts, opts, io)
    } else await runRounds(acts, opts, loadEnds, io)
    check()
    const rebalanceMs = Date.now() - rebalanceStarted
    const atEnd = load.counters()
    const after = acts.last && acts.acts.length === 0 ? acts.last : await acts.plan('final')
    const final = await load.stop()
    load = undefined
    const summary = summariseDemo({opts, cluster, hotNode, imbalanceBefore, utilisationBefore, acts, after, rebalanceMs, totalMs: Date.now() - started, final, atRebalance, atEnd})
    if (opts.keep) {
      summary.kept = cluster.keep()
      report({type: 'step', text: 'the cluster keeps running (--keep)'})
    } else report({type: 'step', text: 'stopping everything'})
    return summary
  } finally {
    await load?.stop().catch(() => {})
    await cluster?.stop()
  }
}

/** DemoOutcome is what the story measured, for {@link summariseDemo}. */
interface DemoOutcome {
  opts: DemoOptions
  cluster: DemoCluster
  hotNode: string
  imbalanceBefore: number | null
  /** utilisationBefore is each starting node's utilisation when the skew showed. */
  utilisationBefore: Map<string, number>
  acts: DemoActs
  /** after is the plan computed on the settled stats after the last act. */
  after: Plan
  rebalanceMs: number
  totalMs: number
  final: LoadCounters
  atRebalance: LoadCounters
  atEnd: LoadCounters
}

/** summariseDemo turns what the story measured into its summary (pure); `ok` only with no failed request or move. */
function summariseDemo(o: DemoOutcome): DemoSummary {
  const {opts, cluster, acts, after, final} = o
  const nodeIds = [...new Set([...o.utilisationBefore.keys(), ...after.nodes.map((n) => n.id)])].sort()
  return {
    ok: final.errors === 0 && acts.moves.failed === 0 && acts.moves.aborted === 0,
    cluster: DEMO_CLUSTER,
    endpoint: cluster.endpoint,
    nodes: cluster.specs.length,
    rf: opts.rf,
    shards: opts.shards,
    hotNode: o.hotNode,
    target: opts.target,
    imbalanceBefore: o.imbalanceBefore,
    imbalancePredicted: acts.predicted,
    imbalanceAfter: after.summary.imbalanceBefore,
    balanced: after.summary.status === 'balanced',
    rounds: acts.acts.length,
    acts: acts.acts,
    utilisation: nodeIds.map((id) => ({node: id, before: o.utilisationBefore.get(id) ?? null, after: after.nodes.find((n) => n.id === id)?.before.utilisation ?? null})),
    moves: acts.moves,
    bytesMoved: acts.bytesMoved,
    rebalanceMs: o.rebalanceMs,
    totalMs: o.totalMs,
    requests: {total: final.requests, errors: final.errors, duringRebalance: o.atEnd.requests - o.atRebalance.requests, errorsDuringRebalance: o.atEnd.errors - o.atRebalance.errors, worstMs: final.worstMs, firstErrors: final.firstErrors},
    security: {tls: cluster.security !== undefined, auth: cluster.security !== undefined, user: cluster.security ? DEMO_USER : null},
    kept: null,
  }
}
