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
