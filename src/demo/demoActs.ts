import {type ServiceContext} from '../cluster/serviceContext.js'
import {readSnapshot} from '../cluster/snapshotService.js'
import {executePlan} from '../executor/executePlan.js'
import {DEFAULT_EXECUTOR_OPTIONS} from '../executor/executorEnv.js'
import {type Plan} from '../model/plan.js'
import {type PlanOptionsInput} from '../planner/options.js'
import {planRebalance} from '../planner/planRebalance.js'
import {type ActSummary, type DemoReport, type DemoSummary} from './demoService.js'

/** ActLimits bound how many of an act's moves run at once, cluster-wide and per node. */
export interface ActLimits {
  maxConcurrent: number
  perNode: number
  incomingPerNode?: number
}

/**
 * DemoActs plans on the cluster's live stats and applies plans as the story's acts, keeping
 * the tally the summary reports: each act, the moves by outcome, the bytes copied, and the
 * last plan the story acted on (its prediction is the summary's `imbalancePredicted`).
 */
export class DemoActs {
  readonly acts: ActSummary[] = []
  readonly moves: DemoSummary['moves'] = {planned: 0, done: 0, aborted: 0, failed: 0, skipped: 0}
  bytesMoved = 0
  predicted: number | null = null
  /** last is the last plan the story acted on or chose not to act on (see {@link planAct}). */
  last: Plan | undefined
  private planId = 0

  constructor(
    private readonly ctx: ServiceContext,
    private readonly target: number,
    private readonly report: (r: DemoReport) => void,
    private readonly sleep: (ms: number) => Promise<void>,
    private readonly signal: AbortSignal,
  ) {}

  /** plan computes a rebalance plan on a fresh snapshot (live stats), towards the demo's target. */
  async plan(label: string, input: PlanOptionsInput = {}): Promise<Plan> {
    const meta = {id: `demo-${label}-${process.pid}-${++this.planId}`, createdAt: new Date().toISOString()}
    return planRebalance(await readSnapshot(this.ctx), {maxImbalance: this.target, ...input}, meta, {baseline: false})
  }

  /** planAct is {@link plan} for a plan the story acts on: it becomes {@link last}. */
  async planAct(label: string, input: PlanOptionsInput = {}): Promise<Plan> {
    this.last = await this.plan(label, input)
    return this.last
  }

  /** apply reports `p` under `title` and applies it under `throttle`; returns false when the run was stopped. */
  async apply(title: string, p: Plan, throttle: number, limits: ActLimits, chunkBytes = 8 * 1024): Promise<boolean> {
    const round = this.acts.length + 1
    this.predicted = p.summary.imbalanceAfter
    this.moves.planned += p.summary.moves
    this.report({type: 'plan', round, title, plan: p})
    this.report({type: 'step', text: `${title}: applying ${p.summary.moves} moves under a ${Math.round(throttle / 1024)} KiB/s throttle`})
    const result = await executePlan(
      this.ctx,
      {
        plan: p,
        limits,
        throttle,
        nodeThrottle: null,
        options: {...DEFAULT_EXECUTOR_OPTIONS, chunkBytes, drainTimeoutMs: 5000, cleanupGraceMs: 0, barrierTimeoutMs: 15_000},
        confirm: async () => true,
        holder: 'shardctl demo',
      },
      {now: () => Date.now(), sleep: this.sleep, emit: (event) => this.report({type: 'executor', event})},
      this.signal,
    )
    for (const m of result.moves) if (m.phase in this.moves) this.moves[m.phase as keyof DemoSummary['moves']]++
    this.bytesMoved += result.bytesCopied
    const done = result.moves.filter((m) => m.phase === 'done').length
    this.acts.push({title, planned: p.summary.moves, done, bytes: result.bytesCopied, ms: result.durationMs})
    this.report({type: 'line', text: `${title}: ${done}/${result.moves.length} moves done, ${(result.bytesCopied / 1024).toFixed(1)} KiB copied in ${(result.durationMs / 1000).toFixed(1)} s`})
    return !result.stopped
  }
}
