/** BoundedOutcome is what {@link boundedWait} saw: the work's value, or that `ms` passed first. */
export type BoundedOutcome<T> = {done: true; value: T} | {done: false}

/**
 * MAX_TIMER_MS is the longest delay one Node timer waits: a longer one (or a non-number) is
 * set to 1 ms, with only a TimeoutOverflowWarning. Longer bounds are waited in such steps.
 */
const MAX_TIMER_MS = 2 ** 31 - 1

/**
 * boundedWait waits for `work` at most `ms` (a timer, cleared as soon as `work` settles):
 * it resolves to `{done: true, value}` when `work` fulfils in time, to `{done: false}` when
 * the time passes first, and rejects with `work`'s error when it rejects in time. `work`
 * goes on after a timeout; a rejection it meets later is handled here, never unhandled.
 *
 * Why: a caller with a deadline (a client request, a graceful stop) must not hand its own
 * bound to a call whose bound is longer or absent (an etcd read waits up to its unary
 * deadline and etcd3's resends; an etcd3 watch's cancel waits for etcd for ever).
 * A bound beyond {@link MAX_TIMER_MS} (a router's --request-timeout of 30d) is waited in
 * steps: one timer of that length fired after 1 ms, and every map refresh a STALE_EPOCH asked
 * for was given up at once (the refusal answered instead of retried on the new map).
 */
export function boundedWait<T>(work: Promise<T>, ms: number): Promise<BoundedOutcome<T>> {
  let timer: NodeJS.Timeout | undefined
  const timedOut = new Promise<BoundedOutcome<T>>((resolve) => {
    const arm = (left: number) => {
      timer = setTimeout(() => (left > MAX_TIMER_MS ? arm(left - MAX_TIMER_MS) : resolve({done: false})), Math.min(left, MAX_TIMER_MS))
    }
    arm(Math.max(0, ms))
  })
  const finished = work.then((value): BoundedOutcome<T> => ({done: true, value}))
  finished.catch(() => {})
  return Promise.race([finished, timedOut]).finally(() => clearTimeout(timer))
}
