import type * as etcd from 'etcd3'
import {type LeaseHandle, type Store} from '../store/store.js'
import {keepaliveIntervalMs, LEASE_TRUSTED_SHARE, LeaseDeadline} from './leaseDeadline.js'

export type {LeaseHandle} from '../store/store.js'

/**
 * grantLease creates a lease of `ttlSeconds` on `store` and keeps it alive (see
 * {@link Store.grantLease}). Callers that must be safe also fence their writes on the
 * lease's key create revision, never on the loss signal alone.
 */
export function grantLease(store: Pick<Store, 'grantLease'>, ttlSeconds: number): Promise<LeaseHandle> {
  return store.grantLease(ttlSeconds)
}

/**
 * grantEtcdLease is EtcdStore's lease: granted through `wrap` (so failures are coded) and
 * kept alive by a keepalive of its own every {@link keepaliveIntervalMs} (etcd3's own loop
 * is off): each one is etcd3's public `keepaliveOnce` (one request on a stream of its own),
 * timed from its send. The lease is lost at once when etcd answers a keepalive with TTL 0
 * (revoked or expired), and otherwise as soon as etcd may have expired it: {@link
 * LeaseDeadline} after the newest answered keepalive's send time (etcd3 alone waits 2×TTL,
 * during which a barrier already skips the member). `now` is a monotonic clock in ms
 * (injected for tests).
 */
export async function grantEtcdLease(client: etcd.Etcd3, wrap: <T>(fn: () => Promise<T>) => Promise<T>, ttlSeconds: number, now: () => number = () => performance.now()): Promise<LeaseHandle> {
  // Timed from before the grant is sent: etcd starts the TTL when it processes the grant, later.
  const deadline = new LeaseDeadline(now(), ttlSeconds)
  const lease = client.lease(ttlSeconds, {autoKeepAlive: false})
  const id = await wrap(() => lease.grant())
  let lost = false
  let timer: NodeJS.Timeout | undefined
  const callbacks: ((err: Error) => void)[] = []
  const beats = keepBeating(lease, deadline, now, ttlSeconds)
  const declareLost = (err: Error) => {
    if (lost) return
    lost = true
    beats.stop()
    clearTimeout(timer)
    for (const cb of callbacks) cb(err)
  }
  // etcd3 emits `lost` when a keepalive is answered with TTL 0 (or a put under the lease finds it gone).
  lease.on('lost', (err) => declareLost(err))
  const watchDeadline = () => {
    const left = deadline.expiresAt() - now()
    if (!deadline.expired(now())) {
      timer = setTimeout(watchDeadline, Math.max(1, left)).unref()
      return
    }
    // Stop the keepalives: a late answer must not keep its keys alive for a holder that gave it up.
    beats.stop()
    lease.release()
    declareLost(new Error(`no keepalive of lease ${id} was answered for ${Math.round(ttlSeconds * 1000 * LEASE_TRUSTED_SHARE)} ms of its ${ttlSeconds} s TTL: etcd may have expired it`))
  }
  watchDeadline()
  return {
    id,
    get lost() {
      return lost || lease.revoked() || deadline.expired(now())
    },
    onLost(fn) {
      callbacks.push(fn)
    },
    async revoke() {
      beats.stop()
      clearTimeout(timer)
      if (lease.revoked()) return
      await lease.revoke().catch(() => lease.release())
    },
  }
}

/**
 * keepBeating sends a keepalive of `lease` at once and then every keepaliveIntervalMs of
 * its TTL until stopped, each with a deadline of the whole TTL (an answer later than that
 * could not renew the lease past its deadline anyway), and records each answer with its
 * send time in `deadline`. A keepalive that fails (etcd unreachable, a reset stream, a
 * deadline) is not retried: the next beat is the retry, and the deadline decides when the
 * lease counts as lost. One that etcd answers with TTL 0 makes etcd3 emit `lost`.
 */
function keepBeating(lease: etcd.Lease, deadline: LeaseDeadline, now: () => number, ttlSeconds: number): {stop(): void} {
  let stopped = false
  const beat = () => {
    if (stopped) return
    const sentAt = now()
    lease.keepaliveOnce({deadline: Date.now() + ttlSeconds * 1000}).then(
      (res) => deadline.renewed(sentAt, Number(res.TTL)),
      () => {}, // see above: TTL 0 is reported through `lost`, anything else waits for the next beat
    )
  }
  const pacer = setInterval(beat, keepaliveIntervalMs(ttlSeconds)).unref()
  beat()
  return {
    stop() {
      stopped = true
      clearInterval(pacer)
    },
  }
}
