import {type ServiceContext} from '../cluster/serviceContext.js'
import {readSnapshot} from '../cluster/snapshotService.js'
import {UserError} from '../errors/errors.js'
import {unfinishedMoves} from '../executor/moveRecording.js'
import {conflictsWithUnfinished, drainingIn, type MoveConflict, refuseConflicts, unfinishedMoveOf} from '../executor/unfinishedConflicts.js'
import {type Plan, PLAN_STRATEGIES, type PlanStrategy, shortStopOf, type ShortStop} from '../model/plan.js'
import {parseWeights} from '../model/resources.js'
import {type ClusterSnapshot} from '../model/snapshot.js'
import {formatBytes, parseBytes, parseDecimal} from '../model/units.js'
import {type PlanOptionsInput} from '../planner/options.js'
import {planRebalance} from '../planner/planRebalance.js'
import {boundText, ratioText} from '../planner/ratioText.js'
import {defaultPlanPath, planIdFor, writePlanFile} from './planFiles.js'
import {readKeyFile, signPlan} from './signing.js'

/** PlanFlagValues are the raw `shardctl plan` flag values. */
export interface PlanFlagValues {
  strategy?: string
  maxImbalance?: string
  maxMoves?: number
  maxBytes?: string
  minImprovement?: string
  weights?: string
  drainOnly?: boolean
  allowSplit?: boolean
}

/**
 * MIN_MAX_IMBALANCE is the narrowest band `--max-imbalance` accepts (0.99..1.01x the mean).
 * 1 is a band of width zero: only a node at exactly the mean is inside it, so on a loaded
 * cluster every plan ends `unreachable` (exit 11) whatever it moves, and the figures, printed
 * to two decimals, cannot show a narrower band as one. The planner itself still takes 1 (its
 * optimality tests use the zero-width band); only the flags refuse it.
 */
export const MIN_MAX_IMBALANCE = 1.01

/**
 * planOptionsFromFlags turns flag text into planner options. Throws UserError BAD_INPUT
 * naming the flag (`--max-bytes: "12XB" is not a size ...`) and, in its hint, the help of
 * `command`: the command whose flags these are (`plan`, `autopilot`).
 */
export function planOptionsFromFlags(flags: PlanFlagValues, command = 'plan'): PlanOptionsInput {
  const parse = <T>(flag: string, raw: string | undefined, read: (raw: string) => T): T | undefined => {
    if (raw === undefined) return undefined
    try {
      return read(raw)
    } catch (e) {
      throw new UserError('BAD_INPUT', `--${flag}: ${(e as Error).message}`, `see \`shardctl ${command} --help\``)
    }
  }
  // The bounds of PlanOptionsSchema, checked here so the error names the flag, not the option field.
  const number = (what: string, min: number, why: string) => (raw: string) => {
    const v = parseDecimal(raw)
    if (!Number.isFinite(v)) throw new RangeError(`${what} must be a number, got "${raw}"`)
    if (v < min) throw new RangeError(`${what} must be at least ${min} (${why}), got "${raw}"`)
    return v
  }
  if (flags.strategy !== undefined && !(PLAN_STRATEGIES as readonly string[]).includes(flags.strategy)) {
    throw new UserError('BAD_INPUT', `--strategy: must be one of ${PLAN_STRATEGIES.join(', ')}, got "${flags.strategy}"`)
  }
  return {
    strategy: flags.strategy as PlanStrategy | undefined,
    maxImbalance: parse('max-imbalance', flags.maxImbalance, number('max imbalance', MIN_MAX_IMBALANCE, '1 is a band of width zero no loaded cluster reaches; 1.10 keeps every node within 0.90..1.10x the mean')),
    maxMoves: flags.maxMoves,
    maxBytes: parse('max-bytes', flags.maxBytes, parseBytes),
    minImprovement: parse('min-improvement', flags.minImprovement, number('min improvement', 0, 'a fraction of an average replica\'s load; 0 takes every move that helps')),
    weights: parse('weights', flags.weights, parseWeights),
    drainOnly: flags.drainOnly,
    allowSplit: flags.allowSplit,
  }
}

/** PlanRun is what `shardctl plan` produced: the plan and where it was written (none with --check and no --out). */
export interface PlanRun {
  plan: Plan
  file: string | null
  /**
   * conflicts: the plan's actions that change a node other plans' unfinished moves also
   * change, so `apply` and `plan verify` refuse the plan (src/executor/unfinishedConflicts.ts).
   * Read from etcd; always empty for a plan made from a snapshot file, which holds no moves.
   */
  conflicts: MoveConflict[]
}

/** PlanContext is where and how `computePlan` writes and signs the plan. */
export interface PlanContext {
  now: Date
  cwd: string
  out?: string
  write: boolean
  signKeyFile?: string
  baseline?: boolean
}

/**
 * computePlan plans `snapshot` with `options`, names the plan after the cluster and `now`,
 * signs it with the Ed25519 private key in `signKeyFile` when given (read first, so a bad
 * key fails before planning), and writes it to `out` (or `plans/<cluster>-<timestamp>.json`
 * under `cwd`) unless `write` is false. Nothing is written when planning throws.
 */
export function computePlan(snapshot: ClusterSnapshot, options: PlanOptionsInput, context: PlanContext): PlanRun {
  const key = context.signKeyFile === undefined ? undefined : readKeyFile(context.signKeyFile, 'private')
  const unsigned = planRebalance(snapshot, options, {id: planIdFor(snapshot.cluster.name, context.now), createdAt: context.now.toISOString()}, {baseline: context.baseline ?? true})
  const plan = key ? signPlan(unsigned, key) : unsigned
  if (!context.write) return {plan, file: null, conflicts: []}
  const file = context.out ?? defaultPlanPath(plan, context.cwd)
  writePlanFile(plan, file)
  return {plan, file, conflicts: []}
}

/**
 * computeLivePlan plans the live cluster (as {@link computePlan}) and lists the plan's
 * conflicts with other plans' unfinished moves, with the very check `apply` and `plan verify`
 * run (`conflictsWithUnfinished`, against the epochs of the map the plan was made from), so
 * `plan` says up front what `apply` would refuse. The moves are read right after the map
 * (not at the same revision: a move recorded or finished in between shows in `apply`'s check,
 * which runs again under the executor lock), and before planning, so a read that fails
 * writes no plan. The plan is written even when it conflicts, for review; `--check` refuses it
 * ({@link assertPlanCheck}).
 */
export async function computeLivePlan(ctx: ServiceContext, options: PlanOptionsInput, context: PlanContext): Promise<PlanRun> {
  const snapshot = await readSnapshot(ctx)
  const unfinished = (await unfinishedMoves(ctx)).map(unfinishedMoveOf)
  const run = computePlan(snapshot, options, context)
  const epochs = new Map(snapshot.shards.map((s) => [s.id, s.epoch]))
  return {...run, conflicts: conflictsWithUnfinished(run.plan, unfinished, (id) => epochs.get(id), drainingIn(snapshot.nodes))}
}

/**
 * assertPlanCheck is `plan --check`'s verdict on a run: a plan that conflicts with other
 * plans' unfinished moves throws CONFLICT (exit 7, the line `apply` and `plan verify` refuse
 * it with) before any balance verdict, since `apply` would refuse it whatever its status: a
 * CI gate must not pass it on for review and signing as 10 ("review and apply the plan").
 * Otherwise {@link assertWithinTarget} (0, 10 or 11).
 */
export function assertPlanCheck(run: PlanRun): void {
  refuseConflicts(run.plan.id, run.conflicts)
  assertWithinTarget(run.plan)
}

/**
 * whyOutside names what puts a needs-rebalance cluster outside its target. The busiest node
 * over the band is the usual reason; when it is within the band, the reason is a move the
 * rules require (a draining node, a broken placement rule) or a node under the band (an
 * empty new node), and "1.05x the mean (target 1.1x)" alone would read as within target.
 */
function whyOutside(plan: Plan): string {
  const s = plan.summary
  if (s.imbalanceBefore > s.target) return `${ratioText(s.imbalanceBefore, [s.target])}x the mean (target ${s.target}x)`
  const required = plan.actions.filter((a) => a.kind === 'move' && (a.reason.kind === 'drain' || a.reason.kind === 'constraint'))
  const first = required[0]
  if (first?.kind === 'move') return `${required.length} move(s) required by drains or placement rules (first: shard ${first.shard}: ${first.reason.detail})`
  const floor = Math.max(0, 2 - s.target)
  const lowest = plan.nodes.filter((n) => n.state !== 'draining').sort((a, b) => a.before.utilisation - b.before.utilisation)[0]
  if (lowest && lowest.before.utilisation < floor) return `node ${lowest.id} is at ${ratioText(lowest.before.utilisation, [floor])}x the mean, under the band ${boundText(floor)}..${s.target}x`
  return `${ratioText(s.imbalanceBefore, [s.target])}x the mean (target ${s.target}x)`
}

/**
 * assertWithinTarget is `plan --check`'s verdict: returns when the cluster is balanced; throws
 * UserError NEEDS_REBALANCE (exit 10) when the plan reaches the target, and
 * UNREACHABLE_TARGET (exit 11) when even after the plan it is not reached: the rules or a hot
 * shard stop it, or the plan stops short (a limit, --drain-only, the ring strategy), which the
 * message and hint say.
 */
export function assertWithinTarget(plan: Plan): void {
  const s = plan.summary
  if (s.status === 'balanced') return
  if (s.status === 'needs-rebalance') {
    throw new UserError('NEEDS_REBALANCE', `cluster "${plan.cluster}" is outside its balance target: ${whyOutside(plan)}; the plan has ${s.moves} move(s) and ${s.splits} split(s)`, 'review and apply the plan')
  }
  const short = shortStopOf(s)
  if (short !== null) {
    throw new UserError('UNREACHABLE_TARGET', `cluster "${plan.cluster}" is outside its balance target and this plan stops short of it: ${ratioText(s.imbalanceBefore, [s.target])}x the mean before, ${ratioText(s.imbalanceAfter, [s.target])}x after (target ${s.target}x); ${s.stopDetail}`, shortStopHint(plan, short))
  }
  throw new UserError('UNREACHABLE_TARGET', `cluster "${plan.cluster}" cannot reach its balance target: ${s.stopDetail}`, s.hotShards.some((h) => !h.split) ? 'rerun with --allow-split' : 'add capacity or relax constraints')
}

/** SHORT_STOP_HINTS: what reaches the target when a plan stopped short for each of these reasons. */
const SHORT_STOP_HINTS: Record<ShortStop, string> = {
  'max-moves': 'apply this plan and plan again, or raise --max-moves',
  'max-bytes': 'apply this plan and plan again, or raise --max-bytes',
  'drain-only': 'plan without --drain-only to balance as well',
  'ring-complete': 'the ring strategy ignores load: plan with --strategy balance',
}

/**
 * shortStopHint says what reaches the target after a plan stopped short for `short`. Mostly
 * SHORT_STOP_HINTS[short], except where that advice cannot work:
 * - a limit stopped the plan but a shard stays too hot for any node (not split: `--allow-split`
 *   was not given): without the limit the plan would still end outside the band, so the advice
 *   is to split it, or, when one key drives its load, to spread that key in the application;
 * - a limit left the plan without a move (`--max-moves 0`, or no move fits `--max-bytes`):
 *   applying it (splits at most) and planning again under the same limit moves nothing again,
 *   so only raising the limit helps.
 */
function shortStopHint(plan: Plan, short: ShortStop): string {
  const s = plan.summary
  const limited = short === 'max-moves' || short === 'max-bytes'
  const hot = s.hotShards.find((h) => !h.split)
  if (limited && hot) {
    const why = `shard ${hot.shard} alone is hotter than any node may be within ${s.target}x the mean, so more moves cannot reach the target`
    if (hot.hotKey) return `spread the load of shard ${hot.shard}'s hot key (hash ${hot.hotKey.hash}) in the application: ${why}, and no split can divide a key`
    return `rerun with --allow-split: ${why}`
  }
  if (s.moves > 0) return SHORT_STOP_HINTS[short]
  if (short === 'max-moves') return `raise --max-moves: at ${plan.options.maxMoves} this plan has no move to apply`
  if (short === 'max-bytes') return `raise --max-bytes: no move fits within ${formatBytes(plan.options.maxBytes ?? 0)}`
  return SHORT_STOP_HINTS[short]
}
