/**
 * LEASE_TRUSTED_SHARE is the share of a lease's TTL its holder counts on after sending a
 * keepalive etcd answered. etcd expires a lease TTL after it *processed* the last keepalive,
 * which is after the holder sent it; the rest of the TTL absorbs a holder clock that runs
 * slow against etcd's leader and a late expiry timer.
 */
export const LEASE_TRUSTED_SHARE = 0.9

/**
 * KEEPALIVE_SHARE is the share of a lease's TTL between two keepalives its holder sends.
 * The answer to the keepalive after the newest answered one must arrive within
 * (LEASE_TRUSTED_SHARE - KEEPALIVE_SHARE) of the TTL of its send: at etcd3's own third of
 * the TTL that was 0.57×TTL (1.7 s at the 3 s TTL the tests and chaos suite use), short
 * enough for a loaded machine (a busy event loop, a slow etcd) to lapse a lease etcd still
 * held. A tenth leaves 0.8×TTL. It also shrinks the part of the TTL a stall must eat before
 * etcd itself expires the lease. Each keepalive is one small message on an open stream.
 */
export const KEEPALIVE_SHARE = 0.1

/** keepaliveIntervalMs is how often a holder of a `ttlSeconds` lease sends a keepalive ({@link KEEPALIVE_SHARE}). */
export function keepaliveIntervalMs(ttlSeconds: number): number {
  return ttlSeconds * 1000 * KEEPALIVE_SHARE
}

/**
 * LeaseDeadline (pure: times are passed in, from one monotonic clock) is the holder's own
 * bound on when etcd may expire its lease: the send time of the newest keepalive etcd
 * answered (or of the grant), plus {@link LEASE_TRUSTED_SHARE} of the TTL.
 *
 * Why not etcd3's `lost` event: etcd3 declares a lease lost only 2×TTL after the last
 * answered keepalive. In between etcd has expired the lease and deleted its keys, so a
 * barrier skips the member (no `alive/<id>`), while the member, cut off from etcd by a
 * half-open connection, still serves on the map it had.
 *
 * Once past, it stays past: an answer arriving later does not revive it (the holder has
 * given the lease up and registers under a new one).
 */
export class LeaseDeadline {
  private until: number
  private passed = false

  /** `sentAt`: when the grant was sent; `requestedTtlSeconds`: the TTL asked for (a larger granted one is not counted on). */
  constructor(
    sentAt: number,
    private readonly requestedTtlSeconds: number,
  ) {
    this.until = sentAt + this.trustedMs(requestedTtlSeconds)
  }

  /** renewed records that etcd answered a keepalive sent at `sentAt` with `ttlSeconds` left (0 or less: expired, no renewal). */
  renewed(sentAt: number, ttlSeconds: number): void {
    if (this.passed || !(ttlSeconds > 0)) return
    this.until = Math.max(this.until, sentAt + this.trustedMs(Math.min(ttlSeconds, this.requestedTtlSeconds)))
  }

  /** expiresAt is the time from which the lease may have expired in etcd (as last renewed). */
  expiresAt(): number {
    return this.until
  }

  /** expired tells whether the lease may have expired in etcd by `now`; once true, always true. */
  expired(now: number): boolean {
    if (now >= this.until) this.passed = true
    return this.passed
  }

  private trustedMs(ttlSeconds: number): number {
    return ttlSeconds * 1000 * LEASE_TRUSTED_SHARE
  }
}
