import {type ServiceContext} from '../cluster/serviceContext.js'
import {getControl, getMeta} from '../cluster/clusterRepo.js'
import {copyGoalBytes, isTerminal, lossWarnings, mayHaveLostData, type Move} from '../model/move.js'
import {lossKindOf} from '../model/moveLossWarning.js'
import {readRecordings, type Recording} from './moveRecording.js'
import {getMove, listMoves} from './moveStore.js'

/**
 * MoveView is a move record plus its estimated time to finish copying, and whether it is
 * held by `moves pause`: the executor writes no progress while paused, so the record's rate
 * and ETA are those of its last write, not of a copy that runs.
 */
export interface MoveView extends Move {
  etaSeconds: number | null
  /** paused: the move is unfinished and the executor is paused (`moves pause`); no ETA then. */
  paused: boolean
}

/** viewOf is a move's view under the current pause switch: no ETA for a held move (the record's rate is stale). */
function viewOf(m: Move, paused: boolean): MoveView {
  const held = paused && !isTerminal(m.phase)
  return {...m, etaSeconds: held ? null : etaSeconds(m), paused: held}
}

/** moveNote is the NOTE column of `moves list`: paused, else stalled, else the move's reason, else a warning of possible data loss (`moves show` has its text). */
export function moveNote(m: MoveView): string {
  if (m.paused) return 'paused (moves resume)'
  if (m.progress.stalled) return 'STALLED'
  if (m.reason) return m.reason
  if (!mayHaveLostData(m)) return ''
  return lossWarnings(m).every((w) => lossKindOf(w) === 'master-restart') ? 'DATA MAY BE LOST: a master restarted (moves show)' : 'DATA MAY BE LOST (moves show)'
}

/**
 * etaSeconds estimates the remaining copy time: the key and value bytes left of what the copy
 * is expected to apply in all (copyGoalBytes: the planned size, times the sources a merged
 * copy reads) over the rate of key and value bytes (the stream's rate, in other units, read
 * ETAs several times too short for small values). Null when unknown: not copying, no estimate, no
 * data rate, or the copy is past the estimate.
 */
export function etaSeconds(m: Move): number | null {
  const p = m.progress
  // What is left of what the copy applies in all (several times the planned size when it merges replicas: copyGoalBytes).
  const goal = copyGoalBytes(p)
  // Past the estimate (writes since the plan), what is left is unknown: no ETA rather than "0s".
  if (m.phase !== 'copying' || p.dataRateBytesPerSec <= 0 || goal <= 0 || p.bytes > goal) return null
  return Math.max(0, Math.round((goal - p.bytes) / p.dataRateBytesPerSec))
}

/** listMoveViews lists moves (optionally only unfinished, or of one plan) in id order, with their ETAs (none while paused). */
export async function listMoveViews(ctx: ServiceContext, filter: {active?: boolean; plan?: string} = {}): Promise<MoveView[]> {
  await getMeta(ctx)
  const {paused} = await getControl(ctx)
  return (await listMoves(ctx))
    .map((m) => m.value)
    .filter((m) => (!filter.active || !isTerminal(m.phase)) && (filter.plan === undefined || m.plan === filter.plan))
    .map((m) => viewOf(m, paused))
}

/** showMove returns one move with its ETA (none while paused). Throws NOT_FOUND. */
export async function showMove(ctx: ServiceContext, id: string): Promise<MoveView> {
  const m = (await getMove(ctx, id)).value
  return viewOf(m, (await getControl(ctx)).paused)
}

/**
 * unrecordedPlans lists plans (optionally one) whose confirmed moves are not all recorded: an
 * apply was killed while recording them, or a running one is (`recordingBy`). `moves list` shows them, since a list of the
 * recorded moves alone would read as the whole plan (see moveRecording.ts).
 */
export async function unrecordedPlans(ctx: ServiceContext, plan?: string): Promise<Recording[]> {
  return (await readRecordings(ctx)).filter((r) => plan === undefined || r.plan === plan)
}

/** StoppedPlan is a plan with unfinished moves while no executor runs (the apply running it died or was stopped). */
export interface StoppedPlan {
  plan: string
  unfinished: number
}

/**
 * stoppedPlans lists the plans (optionally one) whose moves are not all finished while no
 * executor holds the lock: nothing advances them until an operator continues or abandons
 * them (see stoppedPlanText). Empty while an executor runs.
 */
export async function stoppedPlans(ctx: ServiceContext, moves: readonly Move[], plan?: string): Promise<StoppedPlan[]> {
  if (await ctx.store.get(ctx.keys.executorLock)) return []
  const unfinished = new Map<string, number>()
  for (const m of moves) if (!isTerminal(m.phase) && (plan === undefined || m.plan === plan)) unfinished.set(m.plan, (unfinished.get(m.plan) ?? 0) + 1)
  return [...unfinished].map(([p, n]) => ({plan: p, unfinished: n}))
}

/** stoppedPlanText is the line `moves list` warns with: what to run to continue the plan, or to abandon it. */
export function stoppedPlanText(s: StoppedPlan): string {
  return `plan ${s.plan}: ${s.unfinished} move(s) are unfinished and no executor is running: \`shardctl apply --resume\` continues them; to abandon the plan instead, \`shardctl moves cancel --plan ${s.plan}\` then \`shardctl apply --resume\` (moves not cut over abort back to their old replicas, cut-over ones finish)`
}
