import {lockGate, type LockState, migrateWithinLease, SEND_MARGIN_MS} from './lockGate.js'
import {type BeforeSend, type MigrateBound} from './slotOps.js'

/** LeaseGuards are the slotOps hooks that hold every command changing the cluster to the executor lock's lease. */
export interface LeaseGuards {
  /** beforeSend refuses a SETSLOT, CONFIG SET or pipeline once the lease is lost or inside its margin (lockGate). */
  beforeSend: BeforeSend
  /** migrate also bounds a MIGRATE's own timeout by the lease left (migrateWithinLease), and waits for its answer only while the lease, as renewed, has more than the margin left. */
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
      if (!state) return {timeoutMs: requestedMs, wait: () => null}
      const verdict = migrateWithinLease(state, what, requestedMs)
      if (verdict.kind === 'refuse') throw refused(state.key, verdict.message)
      // The answer is awaited while the lease (as renewed since) has more than the margin left:
      // a holder frozen or cut off from etcd stops waiting there, one whose lease is renewed
      // waits on (a source that does not answer is the connection's command timeout's case).
      let first = true
      const wait = (): number | null => {
        if (first) {
          first = false
          return verdict.waitMs
        }
        const now = lockState()
        if (!now) return null
        const gate = lockGate(now, `waiting for the answer to ${what}`)
        if (gate.kind === 'refuse') throw refused(now.key, `${gate.message.replace(' not sent:', ': stopped:')}; the MIGRATE (its own timeout ${verdict.timeoutMs} ms) may still be running on the source: keys it had no answer for stay there`)
        return now.msLeft === null ? null : Math.max(1, Math.floor(now.msLeft - SEND_MARGIN_MS))
      }
      return {timeoutMs: verdict.timeoutMs, wait}
    },
  }
}
