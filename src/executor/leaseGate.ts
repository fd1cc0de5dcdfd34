import {lockGate} from '../redis/lockGate.js'
import {type ExecutorEnv} from './executorEnv.js'
import {LockLostError} from './moveStore.js'

/**
 * assertLeaseHeld throws {@link LockLostError} when the executor lock's lease is lost by the
 * holder's own deadline (src/etcd/leaseDeadline.ts, read synchronously: no I/O), before `what`
 * is sent to a node. Why, beside the etcd fence on every record: an executor frozen (SIGSTOP,
 * a GC pause, a VM stall) past its lease wakes with the deadline passed, but it stops (its
 * `stopped()`) only once the deadline's timer has run, and a sleep that ended during the
 * freeze may run first. The fence then refuses its next record, but not a request a node
 * acts on: a pull restarted at its stale rate over a takeover that paused or slowed the copy,
 * its node rates pushed over the takeover's. No margin (unlike the redis runner's lockGate
 * use): the trusted deadline already ends a tenth of the TTL before etcd may expire the lease,
 * and a kv node fences what matters (drops, pulls, writes) on the shard's epoch itself.
 * Without `lockState` (tests that do not model the lease) nothing is checked.
 */
export function assertLeaseHeld(env: Pick<ExecutorEnv, 'lockState'>, what: string): void {
  const state = env.lockState?.()
  if (!state) return
  const verdict = lockGate(state, what, 0)
  if (verdict.kind === 'refuse') throw new LockLostError(state.key, verdict.message)
}
