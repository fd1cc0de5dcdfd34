/**
 * lockGate decides, pure, whether the redis move runner may send one more command that changes
 * the cluster (SETSLOT, MIGRATE, CONFIG SET): only while the executor lock's lease is still
 * alive by the holder's own deadline (src/etcd/leaseDeadline.ts: the newest answered
 * keepalive's send time plus 0.9 of the TTL, on a monotonic clock, so it works with etcd
 * unreachable) with at least {@link SEND_MARGIN_MS} of it left. An executor frozen (SIGSTOP, a
 * GC pause, a VM stall) past its lease wakes with its deadline passed: it must not send,
 * because another executor, `redis fix` or a rollback may own the slots by now. The etcd fence
 * on the records cannot stop a Redis command; this check is the only one between the two.
 */

/** SEND_MARGIN_MS: a command is not sent with less than this left of the trusted lease (it must reach Redis before etcd may expire the lease). */
export const SEND_MARGIN_MS = 500

/** LockState is what the executor knows of its lock, read synchronously just before a send. */
export interface LockState {
  /** key is the lock's etcd key, named in the refusal. */
  key: string
  /** lost: the lease was revoked, or its deadline passed (once lost, always lost). */
  lost: boolean
  /** msLeft is how long the lease is trusted from now (null: the store does not say; `lost` alone decides). */
  msLeft: number | null
}

/** LockGateVerdict: send, or refuse with the one-line reason. */
export type LockGateVerdict = {kind: 'send'} | {kind: 'refuse'; message: string}

/** lockGate answers whether `what` (the command about to be sent) may go, given `lock` now. */
export function lockGate(lock: LockState, what: string, marginMs: number = SEND_MARGIN_MS): LockGateVerdict {
  if (lock.lost) return {kind: 'refuse', message: `${what} not sent: the executor lost its lock ${lock.key} (its lease expired or may have: was the process stopped or starved?); another executor, \`redis fix\` or a rollback may be changing these slots now`}
  if (lock.msLeft !== null && lock.msLeft < marginMs) return {kind: 'refuse', message: `${what} not sent: the executor's lock ${lock.key} has ${Math.max(0, Math.round(lock.msLeft))} ms of its lease left, under the ${marginMs} ms a command needs to land before etcd may expire it`}
  return {kind: 'send'}
}

/**
 * MIGRATE_REPLY_SLACK_MS is how much sooner than the sender stops waiting a MIGRATE's own
 * timeout ends: a target that stalls then makes the source answer IOERR (keys left on the
 * source, the move retried) before the sender gives up on the answer and stops.
 */
export const MIGRATE_REPLY_SLACK_MS = 250

/** MIN_MIGRATE_TIMEOUT_MS: a MIGRATE is not started with less time than this for it to run within the lease. */
export const MIN_MIGRATE_TIMEOUT_MS = 100

/**
 * MigrateVerdict: send the MIGRATE with `timeoutMs` as its own timeout and wait at most
 * `waitMs` for its answer (null: the lease gives no deadline, the connection's command timeout
 * applies), or refuse with the one-line reason.
 */
export type MigrateVerdict = {kind: 'send'; timeoutMs: number; waitMs: number | null} | {kind: 'refuse'; message: string}

/**
 * migrateWithinLease decides, pure, whether a MIGRATE (`what`) may be sent now and with which
 * timeout, so that it cannot run on past the lease: MIGRATE blocks the source until the target
 * has answered for every key or its timeout elapsed, whatever happens to the executor that
 * sent it. A MIGRATE sent with 600 ms of the lease left and a 5 s timeout could still be
 * waiting on a stalled target when a successor (`apply --resume`, `redis fix`) took the slot
 * over. So its timeout is at most the lease left minus the send margin and
 * {@link MIGRATE_REPLY_SLACK_MS}, the sender first waits for the answer no longer than the
 * lease left minus the margin (then again only while its renewed lease allows: leaseGuards.ts), and a MIGRATE that would get under {@link MIN_MIGRATE_TIMEOUT_MS} is
 * not sent at all (the holder stops, as lockGate refuses). A MIGRATE that times out leaves the
 * keys it had no answer for on the source (Redis deletes a key there only once the target
 * answered its RESTORE): the next run or the successor migrates them again with REPLACE.
 */
export function migrateWithinLease(lock: LockState, what: string, requestedMs: number, marginMs: number = SEND_MARGIN_MS): MigrateVerdict {
  const gate = lockGate(lock, what, marginMs)
  if (gate.kind === 'refuse') return gate
  if (lock.msLeft === null) return {kind: 'send', timeoutMs: requestedMs, waitMs: null}
  const waitMs = Math.floor(lock.msLeft - marginMs)
  const cap = waitMs - MIGRATE_REPLY_SLACK_MS
  if (cap < MIN_MIGRATE_TIMEOUT_MS) {
    return {kind: 'refuse', message: `${what} not sent: the executor's lock ${lock.key} has ${Math.round(lock.msLeft)} ms of its lease left, under the ${marginMs + MIGRATE_REPLY_SLACK_MS + MIN_MIGRATE_TIMEOUT_MS} ms a MIGRATE needs to run and answer before etcd may expire it`}
  }
  return {kind: 'send', timeoutMs: Math.max(1, Math.min(requestedMs, cap)), waitMs}
}
