import {type ErrorCode} from '../errors/codes.js'
import {isUserError, UserError} from '../errors/errors.js'
import {type ApplyResult} from '../executor/executePlan.js'
import {isTerminal, type MovePhase, phasesWhere} from '../model/move.js'

/**
 * RunOutcome is how a run that changed the cluster ended, as the exit status sees it:
 * `code` is null for success, otherwise the error code whose exit code the process ends
 * with; `line` (when set) tells the operator what was and was not recorded.
 */
export interface RunOutcome {
  code: ErrorCode | null
  line: string | null
}

/**
 * applyOutcome judges an executor run. Stopped early (Ctrl-C, SIGTERM, `q` in the
 * dashboard, a lost executor lease) is INTERRUPTED, and the line says whether anything is
 * left to resume (and, for a lost lease, that it was lost: nobody asked it to stop): "Resume with apply --resume" only when an unfinished move is recorded.
 * Finished with a move aborted or failed is INCOMPLETE. Otherwise success.
 */
export function applyOutcome(r: Pick<ApplyResult, 'moves' | 'counts' | 'stopped'> & Partial<Pick<ApplyResult, 'leaseLost'>>): RunOutcome {
  if (r.stopped) {
    const unfinished = r.moves.filter((m) => !isTerminal(m.phase as MovePhase)).length
    // No one pressed Ctrl-C when the lease was lost: say why it stopped, and that the lock may be someone else's now.
    const why = r.leaseLost ? 'Interrupted: the executor lost its lease on the executor lock (etcd unreachable for longer than the lease), so it stopped; another executor may hold the lock now' : 'Interrupted'
    return {
      code: 'INTERRUPTED',
      line:
        unfinished > 0
          ? `${why}: ${unfinished} recorded move(s) unfinished; each continues from its last persisted phase with \`shardctl apply --resume\`${r.leaseLost ? ' once the executor lock is free' : ''}.`
          : `${why}: no recorded move is left unfinished; nothing to resume.`,
    }
  }
  if (phasesWhere((i) => i.outcome === 'unsuccessful').some((p) => (r.counts[p] ?? 0) > 0)) return {code: 'INCOMPLETE', line: null}
  return {code: null, line: null}
}

/**
 * drainOutcome judges `node drain`: success only when the node holds no replica any more.
 * An interrupted run is INTERRUPTED (as {@link applyOutcome}); one that ran to its end with
 * replicas left on the node is INCOMPLETE.
 */
export function drainOutcome(d: {remaining: number; result: Pick<ApplyResult, 'moves' | 'counts' | 'stopped'> | null}): RunOutcome {
  const run = d.result ? applyOutcome(d.result) : {code: null, line: null}
  if (run.code === 'INTERRUPTED') return run
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
