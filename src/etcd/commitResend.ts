import {AsyncLocalStorage} from 'node:async_hooks'
import * as etcd from 'etcd3'
import {hostBreaker} from './hostBreaker.js'

/** RESENDS is how often a call that failed recoverably is sent again: etcd3's default global policy (cockatiel `retry(handleWhen(isRecoverableError), {maxAttempts: 3})`). */
const RESENDS = 3

/**
 * BLOCKED_WAIT_MS bounds how long a resent tracked call waits while etcd3's per-host circuit
 * breaker keeps its resend from going out: the breaker (hostBreaker.ts) opens after 3 failures
 * in a row and half-opens after 1 s (etcd3's default: 5 s, which this bound was made for; kept,
 * so that a member that fails the half-open trial a few times still gets the resend).
 */
const BLOCKED_WAIT_MS = 6_000
/** BLOCKED_POLL_MS is how often such a call tries again meanwhile (a half-open breaker lets one call through). */
const BLOCKED_POLL_MS = 100

/** Resends is what one tracked call learns about its attempts. */
interface Resends {
  /** resent is true once an attempt failed on the connection and the call was sent again: that attempt may have landed. */
  resent: boolean
  /** mayHaveLanded is true once an attempt failed after it may have reached etcd (not a connection that was never made). */
  mayHaveLanded?: boolean
}

const tracked = new AsyncLocalStorage<Resends>()

/**
 * resendPolicy is the global fault policy EtcdStore gives etcd3 (`faultHandling.global`): what
 * etcd3 does by default — send a call that failed with a recoverable error (unavailable,
 * deadline exceeded, connection reset…) again, up to 3 more times, at once — and in addition
 * tell a call run under {@link trackResends} that it was resent. A transaction's resend is
 * blind: when the first attempt landed and only its answer was lost, the resend fails its own
 * compares (the first attempt changed the keys they guard) and looks like a conflict; the
 * commit needs to know to look for its own write (ownCommit.ts).
 *
 * etcd3 only calls `execute` on the policy (etcd3 1.1 connection-pool.js, and rawRange.ts).
 */
export const resendPolicy = {
  async execute<T>(fn: (ctx: {attempt: number; signal: AbortSignal}) => PromiseLike<T> | T, signal: AbortSignal = new AbortController().signal): Promise<T> {
    let blockedSince: number | undefined
    for (let attempt = 0; ; ) {
      try {
        return await fn({attempt, signal})
      } catch (err) {
        const call = tracked.getStore()
        // A resend the host's open circuit breaker kept from going out never reached etcd:
        // waiting for the breaker to half-open and sending it then is safe. A connection cut
        // under 3 or more calls in flight opens the breaker (for 1 s, hostBreaker.ts) with every resend refused
        // at once, so without the wait a commit whose first attempt landed reported etcd
        // unreachable (its outcome unknown) instead of finding its own write
        // (test/integration/etcd/lostCommitAnswer.test.ts, concurrent commits). Only tracked
        // resent calls whose earlier attempt may have landed wait: others (reads, the keepalive
        // hedge, a commit to an etcd never reached) fail at once, as etcd3 intends.
        if (call?.mayHaveLanded && !signal.aborted && isBrokenCircuit(err) && Date.now() - (blockedSince ??= Date.now()) < BLOCKED_WAIT_MS) {
          await new Promise((resolve) => setTimeout(resolve, BLOCKED_POLL_MS))
          continue
        }
        if (attempt >= RESENDS || signal.aborted || !isRecoverable(err)) throw err
        attempt++
        if (call) {
          call.resent = true
          if (!neverConnected(err)) call.mayHaveLanded = true
        }
        await new Promise((resolve) => setTimeout(resolve, 0))
      }
    }
  },
}

/**
 * etcdFaultHandling is etcd3's `faultHandling` option: {@link resendPolicy} for every call
 * (etcd3 types it with cockatiel's IPolicy, of which it uses only `execute`) and a circuit
 * breaker per member that half-opens after 1 s instead of 5 ({@link hostBreaker}).
 */
export function etcdFaultHandling(): etcd.IOptions['faultHandling'] {
  return {global: resendPolicy as unknown as NonNullable<etcd.IOptions['faultHandling']>['global'], host: () => hostBreaker()}
}

/**
 * trackResends runs `call` (one etcd3 call through a client built with {@link etcdFaultHandling})
 * and returns its result with whether any attempt of it was resent after a connection failure.
 */
export async function trackResends<T>(call: () => Promise<T>): Promise<{value: T; resent: boolean}> {
  const resends: Resends = {resent: false}
  const value = await tracked.run(resends, call)
  return {value, resent: resends.resent}
}

/** isBrokenCircuit: the call was refused by an open circuit breaker (cockatiel's BrokenCircuitError) without being sent. */
function isBrokenCircuit(err: unknown): boolean {
  return err instanceof Error && 'isBrokenCircuitError' in err
}

/** neverConnected: the attempt failed because no connection could be made (gRPC's "No connection established", a refused connect), so it was never sent. */
function neverConnected(err: unknown): boolean {
  return err instanceof Error && /No connection established|ECONNREFUSED/i.test(err.message)
}

function isRecoverable(err: unknown): boolean {
  return typeof err === 'object' && err !== null && etcd.isRecoverableError(err as Error)
}
