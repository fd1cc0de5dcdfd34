import {lockGate, type LockState, migrateWithinLease} from './lockGate.js'
import {type BeforeSend, type MigrateBound} from './slotOps.js'

/** LeaseGuards are the slotOps hooks that hold every command changing the cluster to the executor lock's lease. */
export interface LeaseGuards {
  /** beforeSend refuses a SETSLOT, CONFIG SET or pipeline once the lease is lost or inside its margin (lockGate). */
  beforeSend: BeforeSend
  /** migrate also bounds a MIGRATE's own timeout and the wait for its answer by the lease left (migrateWithinLease). */
  migrate: MigrateBound
}

/**
 * leaseGuards builds the hooks from `lockState` (read synchronously at each send, no I/O;
 * undefined: no lease to check, everything goes) and `refused`, the error thrown instead of
 * sending (the runner's LockLostError, `redis fix`'s own LOCK_HELD). Both the redis move runner
 * and `redis fix --yes` hold the executor lock and go through them, so neither sends after a
 * successor may have taken the lock.
 */
export function leaseGuards(lockState: () => LockState | undefined, refused: (key: string, message: string) => Error): LeaseGuards {
  return {
    beforeSend: (what) => {
      const state = lockState()
      if (!state) return
      const verdict = lockGate(state, what)
      if (verdict.kind === 'refuse') throw refused(state.key, verdict.message)
    },
    migrate: (what, requestedMs) => {
      const state = lockState()
      if (!state) return {timeoutMs: requestedMs, waitMs: null, late: () => new Error(`${what}: no answer`)}
      const verdict = migrateWithinLease(state, what, requestedMs)
      if (verdict.kind === 'refuse') throw refused(state.key, verdict.message)
      const late = () => refused(state.key, `${what}: no answer within the ${verdict.waitMs} ms the lock ${state.key} had left of its lease when it was sent (the MIGRATE itself gives up on the target after ${verdict.timeoutMs} ms); stopped waiting: keys it had not moved are still on the source`)
      return {timeoutMs: verdict.timeoutMs, waitMs: verdict.waitMs, late}
    },
  }
}
