import {boundedWait} from '../clock/boundedWait.js'
import {type LeaseHandle} from './store.js'

/**
 * REVOKE_WAIT_MS bounds each etcd step of a graceful stop (a lease's revoke, a lock's or a
 * registration's removal): etcd's part of a goodbye is best effort (a lease etcd does not
 * hear revoked expires by its TTL), and a stop must end while etcd is frozen or cut off.
 */
export const REVOKE_WAIT_MS = 3000

/** MembershipBackoff bounds the delay between recovery attempts: base · 2^attempt, capped at max. */
export interface MembershipBackoff {
  baseMs: number
  maxMs: number
}

/** LeasedMembershipOptions configure a {@link LeasedMembership}; every callback but `register` must not throw. */
export interface LeasedMembershipOptions {
  /** grant creates a new lease kept alive in the background (grantLease over the store; a fake in tests). */
  grant: () => Promise<LeaseHandle>
  /**
   * register publishes the member under `lease` (its leased keys) and, when `recovering`,
   * re-reads whatever it may have missed while it was not a member (the shard map; a storage
   * node reads it after its publish, at start-up too: src/node/storageNode.ts newMembership
   * says why). It may throw: the lease is then revoked and the attempt retried after a
   * backoff (a failure of the first registration is thrown by {@link LeasedMembership.start} instead).
   */
  register: (lease: LeaseHandle, recovering: boolean) => Promise<void>
  /** onLost: the lease lapsed; the member is fenced (not {@link LeasedMembership.held}) until it recovers. */
  onLost?: (err: Error) => void
  /** onRecovered: registered again under a new lease after `attempts` tries. */
  onRecovered?: (attempts: number) => void
  /** onRetry: a recovery attempt failed; the next one runs after `delayMs`. */
  onRetry?: (err: unknown, delayMs: number) => void
  backoff?: MembershipBackoff
  /**
   * recover: false makes a loss final (the member stays fenced and grants no new lease);
   * for a lock whose fence is the create revision of its key, so a holder that lost it must
   * stop rather than take a new lock under a new fence. Default true.
   */
  recover?: boolean
  /** sleep waits `ms` (injected so tests control time); it should not keep the process alive. */
  sleep?: (ms: number) => Promise<void>
}

const DEFAULT_BACKOFF: MembershipBackoff = {baseMs: 250, maxMs: 5000}

/**
 * LeasedMembership is the lease lifecycle that storage nodes, routers and the executor's
 * lock share: grant a lease, register under it, keep it alive, fence the member the moment
 * it is lost, and (unless `recover` is false) recover with bounded exponential backoff (new
 * lease, register again, re-read state) until it succeeds or the member stops.
 *
 * Guarantees: {@link held} is true only while the current lease is live and its
 * registration has completed; a lease lost *during* recovery (or a registration that
 * completes on an already-lost lease) starts another round instead of leaving the member
 * fenced for good; leases of failed attempts are revoked, never left kept alive; once
 * {@link stop} is called no new lease is granted.
 */
export class LeasedMembership {
  private current?: LeaseHandle
  private registered = false
  private recovering?: Promise<void>
  private stopped = false
  private readonly backoff: MembershipBackoff
  private readonly sleep: (ms: number) => Promise<void>

  constructor(private readonly opts: LeasedMembershipOptions) {
    this.backoff = opts.backoff ?? DEFAULT_BACKOFF
    this.sleep = opts.sleep ?? unrefSleep
  }

  /** start grants the first lease and registers. Throws what grant or register threw (the lease revoked); no retry. */
  async start(): Promise<void> {
    await this.attempt(false)
  }

  /** held is true while the member may act: registered under a lease that is not lost, not stopped. */
  held(): boolean {
    return this.registered && !this.stopped && this.current !== undefined && !this.current.lost
  }

  /** lease is the current lease (possibly lost), for keys written under it; undefined before start. */
  lease(): LeaseHandle | undefined {
    return this.current
  }

  /**
   * lose declares the registration under `lease` lost though the lease lives (its keys were
   * deleted or replaced under it: `cluster init --force`): the member is fenced at once and
   * recovers as from a lapsed lease (new lease, register again). Ignored unless `lease` is the
   * current, registered one (a late report from a replaced registration changes nothing).
   */
  lose(lease: LeaseHandle, err: Error): void {
    if (this.current !== lease || !this.registered || this.stopped) return
    this.registered = false
    this.opts.onLost?.(err)
    if (this.opts.recover !== false) this.recover()
  }

  /** recovered resolves when no recovery is running (tests, shutdown). */
  async recovered(): Promise<void> {
    while (this.recovering) await this.recovering
  }

  /**
   * stop ends recovery and revokes the current lease (deleting its keys), waiting at most
   * {@link REVOKE_WAIT_MS} for etcd: best effort, since a lease etcd does not hear revoked
   * expires by its TTL, and a graceful stop must end while etcd is frozen or cut off.
   * Idempotent.
   */
  async stop(): Promise<void> {
    this.stopped = true
    this.registered = false
    if (this.current) await boundedWait(this.current.revoke().catch(() => {}), REVOKE_WAIT_MS)
  }

  private async attempt(recovering: boolean): Promise<void> {
    const lease = await this.opts.grant()
    if (this.stopped) {
      await lease.revoke().catch(() => {})
      return
    }
    try {
      await this.opts.register(lease, recovering)
    } catch (err) {
      await lease.revoke().catch(() => {})
      throw err
    }
    if (this.stopped) {
      await lease.revoke().catch(() => {})
      return
    }
    const previous = this.current
    this.current = lease
    this.registered = true
    // The lapsed lease may still exist in etcd (loss is declared client-side): end it and its keys.
    if (previous) void previous.revoke().catch(() => {})
    lease.onLost((err) => {
      // Only the current lease matters: an older one's late loss signal must not fence its successor.
      if (this.current !== lease || this.stopped) return
      this.registered = false
      this.opts.onLost?.(err)
      if (this.opts.recover !== false) this.recover()
    })
    // Lost before the callback was attached (it fires only once, for callbacks attached by then).
    if (lease.lost && !this.recovering) {
      this.registered = false
      this.opts.onLost?.(new Error('the lease was lost while registering'))
      if (this.opts.recover !== false) this.recover()
    }
  }

  private recover(): void {
    if (this.recovering || this.stopped) return
    this.recovering = (async () => {
      let attempts = 0
      // Loop until the *current* lease is live: a lease lost while this loop registered it
      // fired onLost while recovering (ignored above), so it is re-checked here.
      while (!this.stopped && !this.held()) {
        attempts++
        let failure: unknown
        try {
          await this.attempt(true)
          if (this.held()) {
            this.opts.onRecovered?.(attempts)
            return
          }
          failure = new Error('the new lease was lost while registering')
        } catch (err) {
          failure = err
        }
        if (this.stopped) return
        const delayMs = Math.min(this.backoff.maxMs, this.backoff.baseMs * 2 ** Math.min(attempts - 1, 20))
        this.opts.onRetry?.(failure, delayMs)
        await this.sleep(delayMs)
      }
    })().finally(() => {
      this.recovering = undefined
    })
  }
}

function unrefSleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref())
}
