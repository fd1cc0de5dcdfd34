import {circuitBreaker, ConsecutiveBreaker, handleWhen, type IPolicy} from 'cockatiel'
import * as etcd from 'etcd3'

/**
 * HOST_HALF_OPEN_MS is how long an etcd member's circuit stays open before one call is let
 * through to try it again. etcd3's default is 5 s: after an etcd freeze of a few seconds (3
 * calls in a row failing opens the circuit) a router or node stayed cut off up to 5 s after
 * etcd answered again (a router was back 2.7 to 3.9 s after an 8 s freeze's thaw, 0.4 s
 * after a 4 s one that opened nothing). A second keeps the breaker's point (calls to a
 * member that is down fail at once instead of each waiting for its deadline, and another
 * member is tried) while a member that is back is found within a second.
 */
export const HOST_HALF_OPEN_MS = 1_000

/** HOST_FAILURES_TO_OPEN is how many failures in a row open a member's circuit (etcd3's default). */
export const HOST_FAILURES_TO_OPEN = 3

/**
 * hostBreaker is the circuit breaker EtcdStore gives etcd3 for each member
 * (`faultHandling.host`): etcd3's own default (cockatiel, opened by recoverable errors
 * only, after {@link HOST_FAILURES_TO_OPEN} in a row) with a shorter half-open time. While it
 * is half-open, other calls wait for the trial call's outcome (cockatiel), so a member that
 * hangs holds at most one call of ours at a time.
 */
export function hostBreaker(halfOpenAfterMs = HOST_HALF_OPEN_MS): IPolicy {
  return circuitBreaker(handleWhen(etcd.isRecoverableError), {halfOpenAfter: halfOpenAfterMs, breaker: new ConsecutiveBreaker(HOST_FAILURES_TO_OPEN)})
}
