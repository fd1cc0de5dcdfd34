import {abortableSleep} from '../clock/abortableSleep.js'
import {listShards} from '../cluster/clusterRepo.js'
import {setNodeState} from '../cluster/nodeService.js'
import {type ServiceContext} from '../cluster/serviceContext.js'
import {readSnapshot} from '../cluster/snapshotService.js'
import {UserError} from '../errors/errors.js'
import {setThrottle} from '../executor/controlService.js'
import {executePlan} from '../executor/executePlan.js'
import {DEFAULT_EXECUTOR_OPTIONS, type ExecutorEvent} from '../executor/executorEnv.js'
import {type Plan} from '../model/plan.js'
import {type PlanOptionsInput} from '../planner/options.js'
import {planRebalance} from '../planner/planRebalance.js'
import {DEMO_CLUSTER, type DemoCluster, startDemoCluster} from './demoCluster.js'
import {DEMO_USER} from './demoSecurity.js'
import {type KeptDemo} from './keptDemo.js'
import {preloadData} from './preload.js'
import {type SkewedLoad, startSkewedLoad} from './skewedLoad.js'

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
 * PRECONDITION when interrupted.
 */
export async function runDemo(opts: DemoOptions, report: (r: DemoReport) => void, signal: AbortSignal): Promise<DemoSummary> {
  const started = Date.now()
  const check = () => {
    if (signal.aborted) throw new UserError('PRECONDITION', 'demo interrupted', 'nothing was left running')
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

    // Wait (bounded) until the nodes' published stats show the skew: the hot node is the
    // most loaded one and above the target, two probes in a row (early stats are noisy).
    let planId = 0
    const plan = async (label: string, input: PlanOptionsInput = {}) => planRebalance(await readSnapshot(ctx), {maxImbalance: opts.target, ...input}, {id: `demo-${label}-${process.pid}-${++planId}`, createdAt: new Date().toISOString()}, {baseline: false})
    let before: Plan | undefined
    const loadStarted = Date.now()
    const skewBy = loadStarted + Math.min(20_000, loadMs / 2)
    let streak = 0
    while (Date.now() < skewBy) {
      await sleep(1000)
      check()
      before = await plan('probe')
      const hottest = [...before.nodes].sort((a, b) => b.before.utilisation - a.before.utilisation)[0]
      streak = hottest?.id === hotNode && hottest.before.utilisation > opts.target ? streak + 1 : 0
      report({type: 'step', text: `waiting for load stats to show the skew: ${hottest ? `${hottest.id} at ${hottest.before.utilisation.toFixed(2)}x the mean` : 'no stats yet'} (target ${opts.target}x)`})
      if (streak >= 2 && Date.now() - loadStarted >= 3000) break
    }
    const imbalanceBefore = before?.summary.imbalanceBefore ?? null
    // The node that joins in act 1 was not part of the cluster the story starts from.
    const joinedId = opts.fast ? undefined : `n${opts.nodes + 1}`
    const utilisationBefore = new Map((before?.nodes ?? []).filter((n) => n.id !== joinedId).map((n) => [n.id, n.before.utilisation]))
    report({type: 'line', text: `load stats show ${hotNode} running hot: imbalance ${imbalanceBefore?.toFixed(2) ?? 'n/a'}x the mean (target ${opts.target}x)`})

    await setThrottle(ctx, opts.throttleBytesPerSec)
    const atRebalance = load.counters()
    const rebalanceStarted = Date.now()
    const moves = {planned: 0, done: 0, aborted: 0, failed: 0, skipped: 0}
    const acts: ActSummary[] = []
    let bytesMoved = 0
    let predicted: number | null = null
    let last: Plan | undefined

    /** act reports `p` under `title` and applies it; returns false when the run was stopped. */
    const act = async (title: string, p: Plan, throttle: number, limits: {maxConcurrent: number; perNode: number; incomingPerNode?: number}, chunkBytes = 8 * 1024): Promise<boolean> => {
      const round = acts.length + 1
      predicted = p.summary.imbalanceAfter
      moves.planned += p.summary.moves
      report({type: 'plan', round, title, plan: p})
      report({type: 'step', text: `${title}: applying ${p.summary.moves} moves under a ${Math.round(throttle / 1024)} KiB/s throttle`})
      const result = await executePlan(
        ctx,
        {
          plan: p,
          limits,
          throttle,
          nodeThrottle: null,
          options: {...DEFAULT_EXECUTOR_OPTIONS, chunkBytes, drainTimeoutMs: 5000, cleanupGraceMs: 0, barrierTimeoutMs: 15_000},
          confirm: async () => true,
          holder: 'shardctl demo',
        },
        {now: () => Date.now(), sleep: (ms) => sleep(ms), emit: (event) => report({type: 'executor', event})},
        signal,
      )
      for (const m of result.moves) if (m.phase in moves) moves[m.phase as keyof typeof moves]++
      bytesMoved += result.bytesCopied
      const done = result.moves.filter((m) => m.phase === 'done').length
      acts.push({title, planned: p.summary.moves, done, bytes: result.bytesCopied, ms: result.durationMs})
      report({type: 'line', text: `${title}: ${done}/${result.moves.length} moves done, ${formatKiB(result.bytesCopied)} copied in ${(result.durationMs / 1000).toFixed(1)} s`})
      return !result.stopped
    }

    if (opts.fast) {
      while (acts.length < opts.maxRounds && Date.now() < loadEnds - 3000) {
        check()
        const p = await plan(`r${acts.length + 1}`)
        last = p
        // An `unreachable` plan still improves the spread as far as the rules allow: apply it too.
        if (p.summary.status === 'balanced' || p.actions.length === 0) break
        if (!(await act(`round ${acts.length + 1}`, p, opts.throttleBytesPerSec, {maxConcurrent: 2, perNode: 1}))) break
        // Nodes measure a moved replica's load from its first second on (bias-corrected, see
        // LoadMeter); a few windows more make that figure less noisy before the next plan.
        report({type: 'step', text: `round ${acts.length} done: letting load stats settle`})
        await sleep(Math.max(0, Math.min(4000, loadEnds - Date.now() - 3000)))
      }
    } else {
      // An act's moves run side by side under one throttle: its bars fill together and the act
      // takes its bytes ÷ the throttle, not a queue of per-move overheads.
      const limits = {maxConcurrent: opts.movesPerAct, perNode: 2, incomingPerNode: opts.movesPerAct}
      // Act 1: a new node joins empty; the plan fills it (it is the coolest node by far).
      report({type: 'step', text: 'act 1: a new node joins'})
      const added = await (joining ?? cluster.addNode(signal))
      report({type: 'line', text: `node ${added.id} joined (${added.address}, ${added.zone}): serving, empty`})
      let going = await act(`act 1: fill ${added.id}`, (last = await plan('join', {maxMoves: opts.movesPerAct})), opts.throttleBytesPerSec, limits)
      // Act 2: relieve the hot node. Every run must relieve the node the clients hammer, but a
      // balance plan follows the stats, which are noisy for the replicas n5 took seconds ago
      // (measured over their first second or two), and on a starved machine another
      // node can look hotter for a moment. So the act is planned as a partial drain of the
      // hot node: n1 draining and n5 cordoned while the plan is computed (both restored
      // before it runs), at most --moves-per-act moves, each leaving n1 for the coolest node.
      if (going) {
        report({type: 'step', text: `act 2: relieve ${hotNode}`})
        await setNodeState(ctx, added.id, 'cordoned')
        await setNodeState(ctx, hotNode, 'draining')
        const p = (last = await plan('hot', {maxMoves: opts.movesPerAct, drainOnly: true}).finally(async () => {
          await setNodeState(ctx, hotNode, 'active')
          await setNodeState(ctx, added.id, 'active')
        }))
        report({type: 'line', text: `act 2: ${hotNode} hands up to ${opts.movesPerAct} replicas to the coolest nodes (planned as a partial drain; ${added.id} sits it out while its load figures ramp up)`})
        if (p.actions.length > 0) going = await act(`act 2: relieve ${hotNode}`, p, opts.throttleBytesPerSec, limits)
        else report({type: 'line', text: `act 2: the planner finds nothing to move off ${hotNode}`})
      }
      // Act 3: an operator drains a node for maintenance, with a wider throttle.
      if (going) {
        const victim = cluster.specs[cluster.specs.length - 2]?.id ?? hotNode
        report({type: 'step', text: `act 3: drain ${victim} for maintenance`})
        await setNodeState(ctx, victim, 'draining')
        const p = (last = await plan(`drain-${victim}`, {drainOnly: true}))
        await setThrottle(ctx, opts.drainThrottleBytesPerSec)
        // Every move of a drain leaves the same node: let them run side by side, in bigger chunks
        // (small chunks keep the throttled acts smooth but bound a copy by round trips).
        await act(`act 3: drain ${victim}`, p, opts.drainThrottleBytesPerSec, {maxConcurrent: 10, perNode: 10, incomingPerNode: 10}, 128 * 1024)
      }
      report({type: 'step', text: 'the story is told: letting load stats settle for the summary'})
      await sleep(3000)
    }
    check()
    const rebalanceMs = Date.now() - rebalanceStarted
    const atEnd = load.counters()
    const after = last && acts.length === 0 ? last : await plan('final')
    const final = await load.stop()
    load = undefined
    const nodeIds = [...new Set([...utilisationBefore.keys(), ...after.nodes.map((n) => n.id)])].sort()
    const summary: DemoSummary = {
      ok: final.errors === 0 && moves.failed === 0 && moves.aborted === 0,
      cluster: DEMO_CLUSTER,
      endpoint: cluster.endpoint,
      nodes: cluster.specs.length,
      rf: opts.rf,
      shards: opts.shards,
      hotNode,
      target: opts.target,
      imbalanceBefore,
      imbalancePredicted: predicted,
      imbalanceAfter: after.summary.imbalanceBefore,
      balanced: after.summary.status === 'balanced',
      rounds: acts.length,
      acts,
      utilisation: nodeIds.map((id) => ({node: id, before: utilisationBefore.get(id) ?? null, after: after.nodes.find((n) => n.id === id)?.before.utilisation ?? null})),
      moves,
      bytesMoved,
      rebalanceMs,
      totalMs: Date.now() - started,
      requests: {total: final.requests, errors: final.errors, duringRebalance: atEnd.requests - atRebalance.requests, errorsDuringRebalance: atEnd.errors - atRebalance.errors, worstMs: final.worstMs, firstErrors: final.firstErrors},
      security: {tls: cluster.security !== undefined, auth: cluster.security !== undefined, user: cluster.security ? DEMO_USER : null},
      kept: null,
    }
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

function formatKiB(bytes: number): string {
  return `${(bytes / 1024).toFixed(1)} KiB`
}
