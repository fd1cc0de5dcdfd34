import {isUserError, UserError, errorMessage} from '../errors/errors.js'
import {PHASE_TABLE, type MovePhase} from '../model/move.js'
import {LockLostError} from './moveStore.js'

/**
 * The executor's one retry policy: how a thrown error is classified, and what a move does
 * about each class in each phase. The move machine asks {@link judgeFailure}; nothing else
 * in the executor looks at error types or counts attempts.
 */

/**
 * FailureKind classifies what went wrong in a step:
 * - `lock-lost`: the executor was fenced out; it must stop at once.
 * - `conflict`: the move or shard changed under a write (a cancel, a rollback request, a race); re-read and decide again.
 * - `waiting-for-node`: a step needs a node that is down; wait for it, however long (not a failed attempt).
 * - `abort-now`: the move cannot go on before cutover (a node unreachable past its budget, the shard gone); abort it.
 * - `retriable`: trouble that may pass (a barrier not reached, a node briefly away, verification still differing).
 * - `bug`: a broken invariant; no retry can fix it.
 */
export type FailureKind = 'lock-lost' | 'conflict' | 'waiting-for-node' | 'abort-now' | 'retriable' | 'bug'

/** Failure is a classified error with its one-line message. */
export interface Failure {
  kind: FailureKind
  message: string
}

/** MoveFailure is thrown by a side effect when the move should be aborted now (terminal for this attempt); its message is the reason. */
export class MoveFailure extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'MoveFailure'
  }
}

/**
 * WaitingForNode is thrown by a side effect that needs a node that is down (a drop only it
 * can confirm). Retried with backoff for as long as it takes, across executor restarts.
 */
export class WaitingForNode extends UserError {}

/**
 * RETRY_POLICY holds the numbers of the policy. maxAttempts bounds the failed attempts of a
 * phase in one run: before cutover the move is then aborted, while aborting it is `failed`.
 * Backoff doubles from backoffBaseMs up to backoffCapMs; holdMs paces waits for pause/window.
 */
export const RETRY_POLICY = {maxAttempts: 8, backoffBaseMs: 200, backoffCapMs: 5000, holdMs: 250} as const

/**
 * classifyError maps anything a step threw to a {@link Failure}. Coded UserErrors are
 * retriable (the user or time can fix them), except the executor's own signals; anything
 * else (a BugError, a plain Error, a non-error) is a bug.
 */
export function classifyError(err: unknown): Failure {
  const message = errorMessage(err)
  if (err instanceof LockLostError) return {kind: 'lock-lost', message}
  if (isUserError(err, 'CONFLICT')) return {kind: 'conflict', message}
  if (err instanceof WaitingForNode) return {kind: 'waiting-for-node', message}
  if (err instanceof MoveFailure) return {kind: 'abort-now', message}
  if (err instanceof UserError) return {kind: 'retriable', message}
  return {kind: 'bug', message}
}

/** backoffMs is the wait before retry number `tries` (1-based): 400 ms doubling, capped at 5 s. */
export function backoffMs(tries: number): number {
  return Math.min(RETRY_POLICY.backoffCapMs, RETRY_POLICY.backoffBaseMs * 2 ** Math.min(Math.max(tries, 1), 5))
}

/** abortable tells whether a move in `phase` may still be aborted back to its old replicas (not cut over, not terminal, not already aborting). */
export function abortable(phase: MovePhase): boolean {
  const info = PHASE_TABLE[phase]
  return !info.terminal && !info.cutOver && info.track === 'forward'
}

/**
 * Verdict is what to do about one failure:
 * - `stop`: rethrow (the executor is fenced out);
 * - `reread`: re-read the move and decide again (not an attempt);
 * - `abort` / `fail`: commit `aborting` / `failed` with the reason;
 * - `retry`: wait `afterMs`, then retry the phase.
 * `counted` says whether the failure was a failed attempt (persisted in the move's `attempts`).
 */
export type Verdict = {do: 'stop'} | {do: 'reread'} | {do: 'abort' | 'fail'; reason: string; counted: boolean} | {do: 'retry'; afterMs: number; counted: boolean}

/** FailureContext is what the policy weighs: where the move is, and how often this phase already failed in this run. */
export interface FailureContext {
  phase: MovePhase
  /** failures: counted failed attempts of this phase so far (this one not included). */
  failures: number
  /** tries: retries of this phase so far, counted or not (this one not included). */
  tries: number
  /** reason: the move's recorded reason (kept in a `failed` reason as "was: …"). */
  reason: string | null
}

/**
 * judgeFailure is the retry policy. A bug aborts a move that can still abort, else fails
 * it; `abort-now` aborts (or, past cutover, is retried like any trouble); retriable trouble
 * is retried with backoff, and after {@link RETRY_POLICY.maxAttempts} counted failures in
 * one phase aborts the move (before cutover) or fails it (while aborting). Waiting for a
 * down node is never counted. Past cutover retriable trouble is retried without bound: the
 * move can only finish or be rolled back.
 */
export function judgeFailure(ctx: FailureContext, failure: Failure): Verdict {
  const {phase} = ctx
  const was = ctx.reason ? ` (was: ${ctx.reason})` : ''
  switch (failure.kind) {
    case 'lock-lost':
      return {do: 'stop'}
    case 'conflict':
      return {do: 'reread'}
    case 'bug':
      if (abortable(phase)) return {do: 'abort', reason: `terminal error in ${phase}: ${failure.message}`, counted: true}
      return {do: 'fail', reason: `terminal error in ${phase}: ${failure.message}${was}; needs an operator`, counted: true}
    case 'waiting-for-node':
      return {do: 'retry', afterMs: backoffMs(ctx.tries + 1), counted: false}
    case 'abort-now':
      if (abortable(phase)) return {do: 'abort', reason: failure.message, counted: false}
      break
    case 'retriable':
      break
  }
  const failures = ctx.failures + 1
  if (failures >= RETRY_POLICY.maxAttempts && abortable(phase)) return {do: 'abort', reason: `gave up after ${failures} attempts in ${phase}: ${failure.message}`, counted: true}
  if (failures >= RETRY_POLICY.maxAttempts && phase === 'aborting') return {do: 'fail', reason: `abort could not finish after ${failures} attempts: ${failure.message}${was}; needs an operator`, counted: true}
  return {do: 'retry', afterMs: backoffMs(ctx.tries + 1), counted: true}
}

/**
 * RunFailure is what {@link judgeRunFailure} weighs about a move runner that threw (the redis
 * engine's runner leaves every error to the executor's loop): how many runs of it in a row
 * failed before this one without getting anywhere, and whether this one got anywhere.
 */
export interface RunFailure {
  /** failures: runs of this move in a row that failed without progress, before this one. */
  failures: number
  /** progressed: this run moved the move on (its phase or cursor changed) before it failed. */
  progressed: boolean
  /** counts: false for trouble that is not the move's (etcd unreachable: the fail could not be recorded anyway). */
  counts: boolean
  message: string
  /** wayOut: what the operator runs once the executor gives up, appended to the reason. */
  wayOut: string
}

/** RunVerdict: run the move again after `afterMs` (with `failures` now counted), or record it `failed` with `reason`. */
export type RunVerdict = {do: 'retry'; afterMs: number; failures: number} | {do: 'fail'; reason: string}

/**
 * judgeRunFailure bounds a runner that keeps failing: a run that made progress starts the count
 * again at 1 (a long move that meets a blip now and then goes on), one that did not adds 1,
 * trouble that is not the move's (etcd down) adds nothing; the wait doubles as backoffMs. At
 * RETRY_POLICY.maxAttempts runs in a row without progress the move is to be recorded `failed`,
 * its reason naming the last error and the way out, instead of being retried for ever.
 */
export function judgeRunFailure(f: RunFailure): RunVerdict {
  const failures = !f.counts ? f.failures : f.progressed ? 1 : f.failures + 1
  if (failures >= RETRY_POLICY.maxAttempts) return {do: 'fail', reason: `gave up after ${failures} runs in a row failed without progress; last: ${f.message}; ${f.wayOut}`}
  return {do: 'retry', afterMs: backoffMs(Math.max(failures, 1)), failures}
}
