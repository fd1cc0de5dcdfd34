import {setTimeout as realDelay} from 'node:timers/promises'
import {type ExecutorEnv} from './executorEnv.js'
import {type FencedMove, getMove} from './moveStore.js'

/** CANCEL_LOOK_MS: how often a request a node leaves unanswered gives way to a look at the move record (a `moves cancel`) and at the executor (stopping). */
export const CANCEL_LOOK_MS = 1000

/** LookedOutcome is what {@link answerUnlessCancelled} ended with: the work's answer, a recorded cancel (the move as read), or the executor stopping. */
export type LookedOutcome<T> = {ended: 'answered'; value: T} | {ended: 'cancelled'; move: FencedMove} | {ended: 'stopped'}

/**
 * answerUnlessCancelled runs `work` (requests to nodes, given `signal`) and, while it is
 * unanswered, looks every {@link CANCEL_LOOK_MS} at the move record and at the executor: a
 * `moves cancel` recorded meanwhile, or the executor stopping, aborts the signal and ends the
 * wait at once, `work`'s late outcome ignored. Why: a node that does not answer (frozen, cut
 * off) holds each request for the client timeout (10 s) and the copy loop retries it for the
 * whole trouble window (30 s), never re-reading the move, so a cancel waited all of that.
 * Work answered within CANCEL_LOOK_MS costs no etcd read; a failed read is ignored (the next
 * look tries again). The looks wait on real timers, not env.sleep: a test's fake sleep moves
 * its clock on, which would make the copy's trouble window pass while a request is pending.
 * Rejects with `work`'s error when it fails first.
 */
export async function answerUnlessCancelled<T>(env: Pick<ExecutorEnv, 'ctx' | 'stopped'>, moveId: string, work: (signal: AbortSignal) => Promise<T>): Promise<LookedOutcome<T>> {
  const abort = new AbortController()
  const settled = new AbortController()
  const answered = work(abort.signal).finally(() => settled.abort())
  const looked = (async (): Promise<LookedOutcome<T> | undefined> => {
    for (;;) {
      const woke = await realDelay(CANCEL_LOOK_MS, true, {signal: settled.signal}).catch(() => false)
      if (!woke) return undefined
      if (env.stopped()) return {ended: 'stopped'}
      const m = await getMove(env.ctx, moveId).catch(() => undefined)
      if (settled.signal.aborted) return undefined
      if (m?.value.cancelRequested) return {ended: 'cancelled', move: m}
    }
  })()
  const outcome = await Promise.race([answered.then((value) => ({ended: 'answered', value}) as const), looked.then((l) => l ?? answered.then((value) => ({ended: 'answered', value}) as const))])
  if (outcome.ended !== 'answered') {
    abort.abort()
    answered.catch(() => undefined)
  }
  settled.abort()
  return outcome
}
