import {type ErrorCode} from '../errors/codes.js'
import {isUserError, UserError} from '../errors/errors.js'
import {type ApplyResult} from '../executor/executePlan.js'
import {isTerminal, lossWarnings, mayHaveLostData, type MovePhase, phasesWhere} from '../model/move.js'
import {type LossKind, lossKindOf} from '../model/moveLossWarning.js'

/**
 * RunOutcome is how a run that changed the cluster ended, as the exit status sees it:
 * `code` is null for success, otherwise the error code whose exit code the process ends
 * with; `line` (when set) tells the operator what was and was not recorded.
 */
export interface RunOutcome {
  code: ErrorCode | null
  line: string | null
}

/** RunSummary is what the outcome of a run is judged on: ApplyResult's counts, stop and moves (their phases and warnings). */
export type RunSummary = Pick<ApplyResult, 'counts' | 'stopped'> & {moves: readonly {phase: string; warnings?: ApplyResult['moves'][number]['warnings']}[]}

/**
 * applyOutcome judges an executor run. Finished or stopped with a move warned of possible data
 * loss not acknowledged (a redis master restarted without persistence while it ran, a kv move
 * that went on without its abandoned source: MoveWarning, src/model/moveLossWarning.ts) is
 * POSSIBLE_DATA_LOSS, even when every move ended `done`: the layout is as planned, but keys may
 * be gone, and a script must not read that as success. It wins over the codes below, and its
 * line says what they would have (unfinished moves to resume, moves aborted or failed): a move
 * that ended `done` in a run stopped later is not run (nor judged) by the `apply --resume` that
 * follows, so 130 there was the only exit status that run ever got, and the loss went unsaid.
 * Otherwise, stopped early (Ctrl-C, SIGTERM, `q` in the dashboard, a lost executor lease) is
 * INTERRUPTED, and the line says whether anything is left to resume (and, for a lost lease,
 * that it was lost: nobody asked it to stop): "Resume with apply --resume" only when an
 * unfinished move is recorded. Finished with a move aborted or failed is INCOMPLETE. Otherwise success.
 */
export function applyOutcome(r: RunSummary & Partial<Pick<ApplyResult, 'leaseLost'>>): RunOutcome {
  const lossy = r.moves.filter((m) => mayHaveLostData(m)).length
  const loss = lossLine(r.moves)
  if (r.stopped) {
    const line = interruptedLine(r)
    return lossy > 0 ? {code: 'POSSIBLE_DATA_LOSS', line: `${loss} ${line}`} : {code: 'INTERRUPTED', line}
  }
  const unsuccessful = phasesWhere((i) => i.outcome === 'unsuccessful').reduce((a, p) => a + (r.counts[p] ?? 0), 0)
  if (lossy > 0) return {code: 'POSSIBLE_DATA_LOSS', line: unsuccessful > 0 ? `${loss} Besides, ${unsuccessful} move(s) ended aborted or failed (\`shardctl moves list\`).` : loss}
  if (unsuccessful > 0) return {code: 'INCOMPLETE', line: null}
  return {code: null, line: null}
}

/**
 * lossLine is the sentence a run warned of possible data loss ends with: how many moves, and
 * what happened to them (a redis master restarted without persistence; a kv move went on without
 * its abandoned source, or its destination restarted after the source dropped its copy).
 */
function lossLine(moves: RunSummary['moves']): string {
  const lossy = moves.filter((m) => mayHaveLostData(m))
  const kinds = new Set<LossKind>(lossy.flatMap((m) => lossWarnings(m).map(lossKindOf)))
  if (kinds.size === 1 && kinds.has('master-restart')) return `${lossy.length} move(s) ran while a master they used restarted without persistence: acknowledged keys may be lost; \`shardctl moves show <id>\` names the master and the slots.`
  const why: Record<LossKind, string> = {
    'master-restart': 'a master they used restarted without persistence',
    'source-abandoned': 'went on without a source abandoned with --accept-data-loss',
    'destination-lost': 'a destination restarted without its copy after the source dropped its own',
    'kept-copy-lost': "an abort or rollback dropped a destination's kept copy that had lost, or whose repaired voters lost, what only it held",
  }
  return `${lossy.length} move(s) may have lost acknowledged data (${[...kinds].map((k) => why[k]).join('; ')}); \`shardctl moves show <id>\` says what, and \`shardctl moves ack <id>\` acknowledges it once checked.`
}

/** interruptedLine is what a stopped run tells: why it stopped, and whether `apply --resume` has anything to continue. */
function interruptedLine(r: RunSummary & Partial<Pick<ApplyResult, 'leaseLost'>>): string {
  const unfinished = r.moves.filter((m) => !isTerminal(m.phase as MovePhase)).length
  // No one pressed Ctrl-C when the lease was lost: say why it stopped, and that the lock may be someone else's now.
  const why = r.leaseLost ? 'Interrupted: the executor lost its lease on the executor lock (etcd unreachable for longer than the lease), so it stopped; another executor may hold the lock now' : 'Interrupted'
  return unfinished > 0
    ? `${why}: ${unfinished} recorded move(s) unfinished; each continues from its last persisted phase with \`shardctl apply --resume\`${r.leaseLost ? ' once the executor lock is free' : ''}.`
    : `${why}: no recorded move is left unfinished; nothing to resume.`
}

/**
 * drainOutcome judges `node drain`: success only when the node holds no replica any more.
 * An interrupted run is INTERRUPTED, one warned of possible data loss POSSIBLE_DATA_LOSS (as
 * {@link applyOutcome}; its line then also says how many replicas the node still holds); one
 * that ran to its end with replicas left on the node is INCOMPLETE.
 */
export function drainOutcome(d: {remaining: number; result: RunSummary | null}): RunOutcome {
  const run = d.result ? applyOutcome(d.result) : {code: null, line: null}
  if (run.code === 'POSSIBLE_DATA_LOSS' && d.remaining > 0) return {...run, line: `${run.line} The node still holds ${d.remaining} replica(s): it is not drained.`}
  if (run.code === 'INTERRUPTED' || run.code === 'POSSIBLE_DATA_LOSS') return run
  return {code: d.remaining > 0 ? 'INCOMPLETE' : null, line: null}
}

/**
 * afterConfirmedError is the error a run ends with once its confirmation passed: etcd lost
 * then (stopped, restarted, cut off) may leave moves recorded and unfinished, and the plain
 * "etcd is unreachable" hint says how to reach etcd but not that those moves wait for
 * `apply --resume`. Anything else, or a run not yet confirmed (nothing recorded), is passed on.
 */
export function afterConfirmedError(err: unknown, confirmed: boolean): unknown {
  if (!confirmed || !isUserError(err, 'ETCD_UNREACHABLE')) return err
  const resume = 'once it answers again, `shardctl moves list` shows what this run recorded and `shardctl apply --resume` continues it'
  return new UserError('ETCD_UNREACHABLE', err.message, err.hint ? `${err.hint}; ${resume}` : resume, {cause: err})
}
