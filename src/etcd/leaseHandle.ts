import type * as etcd from 'etcd3'
import {BugError} from '../errors/errors.js'
import {type LeaseHandle, type Store} from '../store/store.js'
import {keepaliveIntervalMs, LEASE_TRUSTED_SHARE, LeaseDeadline} from './leaseDeadline.js'
import {hedgeDue, hedgeKeepalive, poolOf} from './keepaliveHedge.js'

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
 * kept alive by etcd3. It is lost at once when etcd answers a keepalive with TTL 0 (revoked
 * or expired), and otherwise as soon as etcd may have expired it: {@link LeaseDeadline}
 * after the newest answered keepalive's send time (etcd3 alone waits 2×TTL, during which a
 * barrier already skips the member). `now` is a monotonic clock in ms (injected for tests).
 */
export async function grantEtcdLease(client: etcd.Etcd3, wrap: <T>(fn: () => Promise<T>) => Promise<T>, ttlSeconds: number, now: () => number = () => performance.now()): Promise<LeaseHandle> {
  const deadline = new LeaseDeadline(now(), ttlSeconds)
  const lease = client.lease(ttlSeconds, {autoKeepAlive: true})
  const pool = poolOf(lease)
  // Before the grant's answer starts the keepalive loop: every keepalive stream is timed and paced.
  timeKeepalives(lease, (sentAt, ttl) => deadline.renewed(sentAt, ttl), now, keepaliveIntervalMs(ttlSeconds))
  const id = await wrap(() => lease.grant())
  let lost = false
  let timer: NodeJS.Timeout | undefined
  // A member frozen under etcd3's one keepalive stream answers nothing: keepalives go to every member too (keepaliveHedge.ts).
  let hedging: Promise<void> | undefined
  const hedger = setInterval(() => {
    // A lease etcd3 gave up on (revoked, or released when its client closed) is never hedged again.
    if (lease.revoked()) return clearInterval(hedger)
    if (!pool || lost || hedging || !hedgeDue(now(), deadline.expiresAt(), ttlSeconds)) return
    hedging = hedgeKeepalive(pool, id, keepaliveIntervalMs(ttlSeconds) * 3, now, (sentAt, ttl) => {
      if (lost || lease.revoked()) return
      deadline.renewed(sentAt, ttl)
      // etcd3 gives a lease up once its own stream went 2×TTL unanswered; an answer here renewed it as much.
      if (ttl > 0) (lease as unknown as {lastKeepAlive?: number}).lastKeepAlive = Date.now()
    }).finally(() => (hedging = undefined))
  }, keepaliveIntervalMs(ttlSeconds)).unref()
  const callbacks: ((err: Error) => void)[] = []
  const declareLost = (err: Error) => {
    if (lost) return
    lost = true
    clearTimeout(timer)
    clearInterval(hedger)
    for (const cb of callbacks) cb(err)
  }
  lease.on('lost', (err) => declareLost(err))
  const watchDeadline = () => {
    const left = deadline.expiresAt() - now()
    if (!deadline.expired(now())) {
      timer = setTimeout(watchDeadline, Math.max(1, left)).unref()
      return
    }
    // Stop the keepalives: a late answer must not keep its keys alive for a holder that gave it up.
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
    msLeft: () => deadline.expiresAt() - now(),
    async revoke() {
      clearTimeout(timer)
      clearInterval(hedger)
      if (lease.revoked()) return
      await lease.revoke().catch(() => lease.release())
    },
  }
}

/** KeepaliveStream is what {@link timeKeepalives} uses of etcd3's LeaseKeepAlive stream. */
interface KeepaliveStream {
  write(msg: unknown, ...rest: unknown[]): boolean
  end(...args: unknown[]): unknown
  on(event: 'data', fn: (res: {TTL?: string | number}) => void): unknown
  on(event: 'error' | 'close' | 'end', fn: () => void): unknown
}

/**
 * paceKeepalives makes `stream` repeat its first keepalive request every `intervalMs` (through
 * its own `write`, so each is timed) until it is ended, fails or closes: etcd3 ends a stream
 * in its teardown (an error, release, revoke), and no write may land on a stream it gave up.
 */
function paceKeepalives(stream: KeepaliveStream, intervalMs: number): void {
  const write = stream.write.bind(stream)
  const end = stream.end.bind(stream)
  let pacer: NodeJS.Timeout | undefined
  let done = false
  const stop = () => {
    done = true
    clearInterval(pacer)
  }
  stream.write = (msg: unknown, ...rest: unknown[]) => {
    if (!done && pacer === undefined) pacer = setInterval(() => !done && stream.write(msg), intervalMs).unref()
    return write(msg, ...rest)
  }
  stream.end = (...rest: unknown[]) => {
    stop()
    return end(...rest)
  }
  stream.on('error', stop)
  stream.on('close', stop)
  stream.on('end', stop)
}

/**
 * timeKeepalives calls `answered(sentAt, ttlSeconds)` for each keepalive of `lease` that etcd
 * answers, with the time it was sent: each keepalive stream (etcd3 opens a new one after an
 * error) records its writes' times and pairs them with its answers, which come in order
 * (etcd answers each request of a stream before it reads the next, or ends the stream).
 * Pairing by stream matters: an answer can only vouch for the time its own request was sent.
 *
 * It also paces them ({@link paceKeepalives}): a keepalive every `intervalMs` (etcd3 alone
 * writes one every third of the TTL; see KEEPALIVE_SHARE).
 *
 * etcd3 exposes neither send times nor a pace, so this wraps the Lease's RPC client (etcd3 1.1.x internals);
 * throws BugError when they changed, rather than keep a lease without a deadline.
 */
function timeKeepalives(lease: etcd.Lease, answered: (sentAt: number, ttlSeconds: number) => void, now: () => number, intervalMs: number): void {
  const rpc = (lease as unknown as {client?: {leaseKeepAlive?: (...args: unknown[]) => Promise<KeepaliveStream>}}).client
  const open = rpc?.leaseKeepAlive
  if (!rpc || typeof open !== 'function') throw new BugError('etcd3 Lease no longer has client.leaseKeepAlive: lease keepalives cannot be timed (src/etcd/leaseHandle.ts)')
  rpc.leaseKeepAlive = async (...args: unknown[]) => {
    const stream = await open.apply(rpc, args)
    const sent: number[] = []
    const write = stream.write.bind(stream)
    stream.write = (msg: unknown, ...rest: unknown[]) => {
      sent.push(now())
      return write(msg, ...rest)
    }
    paceKeepalives(stream, intervalMs)
    stream.on('data', (res) => {
      const at = sent.shift()
      if (at !== undefined) answered(at, Number(res.TTL ?? 0))
    })
    return stream
  }
}
