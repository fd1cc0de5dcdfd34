import {type ServiceContext} from '../cluster/serviceContext.js'
import {UserError, isUserError} from '../errors/errors.js'
import {type LockHolder, parseLockHolder} from '../etcd/leaseLock.js'
import {PHASE_TABLE} from '../model/move.js'
import {readRecordings} from './moveRecording.js'
import {type FencedMove, getMove, listMoves, requestCancel} from './moveStore.js'
import {movesAdoptedBy} from './unfinishedConflicts.js'

/** CANCEL_BATCH is how many cancels one transaction writes (etcd takes 128 operations a transaction: one compare and one put each). */
const CANCEL_BATCH = 60

/** PlanCancel says what `moves cancel --plan` did to each of the plan's moves. */
export interface PlanCancel {
  plan: string
  /** cancelled: moves now marked for cancellation (they abort back to their old replicas when an executor runs them). */
  cancelled: number
  /** already: moves already being cancelled or aborted. */
  already: number
  /** finishing: moves that have cut over (or are being rolled back): they cannot be cancelled and will finish. */
  finishing: number
  /** finished: moves already in a final phase. */
  finished: number
  /** unrecorded: confirmed moves of the plan that a stopped apply had not recorded yet (see moveRecording.ts): not cancelled. */
  unrecorded: number
  /** executorRunning: whether an executor holds the lock now (it honours the cancels of the moves it runs within a second). */
  executorRunning: boolean
  /** executor: who holds the executor lock and what it runs (its lock's `plan`: a plan id, null for `apply --resume`, absent when not said); null when none does. */
  executor: Pick<LockHolder, 'holder' | 'plan'> | null
  /**
   * leftToResume: how many of the moves marked (or already being cancelled) no running executor
   * aborts: `apply --resume` does, once the running one (if any) ends. All of them with no
   * executor; those an apply of another plan does not run (not its own, not taken over by it);
   * null when the executor's lock does not say what it runs.
   */
  leftToResume: number | null
  /**
   * adopted: the other plans' moves among those counted above that the plan's apply runs as its
   * own (it makes the same moves: movesAdoptedBy), each with its plan; marked like the plan's own.
   */
  adopted: {id: string; plan: string}[]
}

/**
 * requestPlanCancel abandons a plan: every move of it that has not cut over is marked for
 * cancellation, as `moves cancel` marks one (honoured only before cutover; a running
 * executor aborts each back to its old replicas, and `apply --resume` does when none runs,
 * e.g. after the apply that ran the plan died). So is every other plan's move the plan's
 * apply runs as its own (movesAdoptedBy: one the plan makes too, still on its way, recorded
 * before the plan's own record of it, whose own action is then skipped as stale): it is the
 * plan's move of that shard, and left unmarked it still ran (in the plan's running apply, or at
 * the next `apply --resume`). The other plans' moves the plan does not run are left alone. Marks are written in fenced batches (each
 * compares the moves' revisions); a batch that loses a race falls back to one move at a
 * time. Moves that cut over finish (or roll back if asked). Confirmed moves a stopped apply
 * left unrecorded are not cancelled (they are not records yet): they are counted, and
 * PlanCancel.unrecorded says so. Throws NOT_FOUND when the plan has no move at all.
 */
export async function requestPlanCancel(ctx: ServiceContext, plan: string): Promise<PlanCancel> {
  const [moves, recordings, lock] = await Promise.all([listMoves(ctx), readRecordings(ctx), ctx.store.get(ctx.keys.executorLock)])
  const adopted = movesAdoptedBy(plan, moves)
  const mine = [...moves.filter((m) => m.value.plan === plan), ...adopted]
  const recording = recordings.find((r) => r.plan === plan)
  if (mine.length === 0 && !recording) throw new UserError('NOT_FOUND', `plan "${plan}" has no moves in cluster "${ctx.cluster}"`, 'list plans with moves with `shardctl moves list`')
  const executor = executorOf(lock?.value)
  const out: PlanCancel = {plan, cancelled: 0, already: 0, finishing: 0, finished: 0, unrecorded: recording ? recording.named - recording.recorded : 0, executorRunning: lock !== undefined, executor, leftToResume: 0, adopted: adopted.map((m) => ({id: m.value.id, plan: m.value.plan}))}
  const toMark: FencedMove[] = []
  const aborting: FencedMove[] = []
  for (const m of mine) {
    const answer = PHASE_TABLE[m.value.phase].cancel
    if (answer === 'finished') out.finished++
    else if (answer === 'already-aborting' || (answer === 'accept' && m.value.cancelRequested)) {
      out.already++
      aborting.push(m)
    } else if (answer === 'accept') toMark.push(m)
    else out.finishing++
  }
  out.leftToResume = leftToResume([...toMark, ...aborting], moves, executor)
  for (let i = 0; i < toMark.length; i += CANCEL_BATCH) {
    const batch = toMark.slice(i, i + CANCEL_BATCH)
    const now = ctx.clock().toISOString()
    const rev = await ctx.store.commit({
      compares: batch.map((m) => ({key: m.key, modRevision: m.modRevision})),
      puts: batch.map((m) => ({key: m.key, value: JSON.stringify({...m.value, cancelRequested: true, updatedAt: now})})),
    })
    if (rev !== undefined) {
      out.cancelled += batch.length
      continue
    }
    // A move changed meanwhile (a running executor advanced it): decide again for each, as `moves cancel ID` does.
    for (const m of batch) await cancelOne(ctx, m.value.id, out)
  }
  return out
}

/** executorOf reads who holds the executor lock (its value `lockValue`, undefined: none) and what it says it runs. */
export function executorOf(lockValue: string | undefined): PlanCancel['executor'] {
  if (lockValue === undefined) return null
  const holder: Pick<LockHolder, 'holder' | 'plan'> = parseLockHolder(lockValue) ?? {holder: 'an unreadable holder'}
  return {holder: holder.holder, ...(holder.plan !== undefined ? {plan: holder.plan} : {})}
}

/**
 * leftToResume counts the moves of `marked` the executor holding the lock does not run (see
 * PlanCancel.leftToResume): `apply --resume` runs every recorded move, an apply of plan R its own
 * and those it took over (movesAdoptedBy), and it never looks at another move until it ends.
 */
export function leftToResume(marked: readonly FencedMove[], moves: readonly FencedMove[], executor: PlanCancel['executor']): number | null {
  if (executor === null) return marked.length
  if (executor.plan === undefined) return null
  const runs = executor.plan
  if (runs === null) return 0
  const adopted = new Set(movesAdoptedBy(runs, moves).map((m) => m.value.id))
  return marked.filter((m) => m.value.plan !== runs && !adopted.has(m.value.id)).length
}

async function cancelOne(ctx: ServiceContext, id: string, out: PlanCancel): Promise<void> {
  try {
    if ((await requestCancel(ctx, id)).changed) out.cancelled++
    else if (PHASE_TABLE[(await getMove(ctx, id)).value.phase].cancel === 'finished') out.finished++
    else out.already++
  } catch (err) {
    // Refused: it cut over (or is rolling back) since it was listed; it finishes.
    if (!isUserError(err, 'PRECONDITION')) throw err
    out.finishing++
  }
}

/** planCancelText is what `moves cancel --plan` prints: what it did and what happens next. */
export function planCancelText(r: PlanCancel): string[] {
  const lines = [`plan ${r.plan}: ${r.cancelled} move(s) marked for cancellation, ${r.already} already being cancelled or aborted, ${r.finishing} cut over (they finish), ${r.finished} finished`]
  if (r.adopted.length > 0) lines.push(`counted with them: ${r.adopted.length} move(s) of other plans that this plan's apply runs as its own (it makes the same moves): ${r.adopted.map((m) => `${m.id} (plan ${m.plan})`).join(', ')}`)
  if (r.cancelled + r.already > 0) lines.push(executorLine(r, r.executor))
  if (r.unrecorded > 0) lines.push(`${r.unrecorded} confirmed move(s) of the plan are not recorded yet and were not cancelled: \`shardctl apply --resume\` records them first; run this again once it has (its log says "recorded the ... move(s) of plan ${r.plan}")`)
  return lines
}

/** executorLine says who aborts the marked moves: the running executor, or `apply --resume` (after it). */
function executorLine(r: PlanCancel, executor: PlanCancel['executor']): string {
  if (executor === null) return 'no executor is running: `shardctl apply --resume` aborts the marked moves back to their old replicas (and finishes the cut-over ones)'
  if (r.leftToResume === null) return `an executor holds the lock (${executor.holder}) without saying which moves it runs: it aborts those of the marked moves it runs, and once it ends \`shardctl apply --resume\` aborts the rest back to their old replicas`
  const runner = `the running executor (${executor.holder}, ${executor.plan === null ? 'resuming every recorded move' : `applying plan ${executor.plan}`})`
  if (r.leftToResume === 0) return `${runner} aborts the marked moves back to their old replicas`
  const marked = r.cancelled + r.already
  const rest = marked - r.leftToResume
  return `${runner} does not run ${r.leftToResume} of the marked move(s): once it ends, \`shardctl apply --resume\` aborts them back to their old replicas${rest > 0 ? `; it aborts the other ${rest}` : ''}`
}
