import * as etcd from 'etcd3'
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
 *
 * It resolves only once etcd answered a keepalive of the new lease (see {@link firstRenewal}):
 * the handle's deadline then runs from that keepalive's send, as a live lease's does, instead
 * of from the grant's. Throws the store's coded errors (a grant or first keepalive etcd did not
 * answer in time: ETCD_UNREACHABLE); the lease is revoked then.
 */
export async function grantEtcdLease(client: etcd.Etcd3, wrap: <T>(fn: () => Promise<T>) => Promise<T>, ttlSeconds: number, now: () => number = () => performance.now()): Promise<LeaseHandle> {
  const deadline = new LeaseDeadline(now(), ttlSeconds)
  const lease = client.lease(ttlSeconds, {autoKeepAlive: true})
  const pool = poolOf(lease)
  const first = firstRenewal(lease, ttlSeconds)
  // Before the grant's answer starts the keepalive loop: every keepalive stream is timed and paced.
  timeKeepalives(
    lease,
    (sentAt, ttl) => {
      deadline.renewed(sentAt, ttl)
      if (ttl > 0) first.renewed()
    },
    now,
    keepaliveIntervalMs(ttlSeconds),
  )
  const id = await wrap(() => lease.grant()).catch((err: unknown) => {
    first.cancel()
    throw err
  })
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
      if (ttl > 0) first.renewed()
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
  // No one holds the lease before this: its deadline is watched from the first answered keepalive on.
  try {
    first.start()
    await wrap(() => first.answered)
    // Answered, but later than the share of the TTL it vouches for: etcd may have expired the lease since.
    if (deadline.expired(now())) await wrap(() => Promise.reject(new etcd.GRPCDeadlineExceededError(`etcd answered the first keepalive of lease ${id} more than ${Math.round(ttlSeconds * 1000 * LEASE_TRUSTED_SHARE)} ms after it was sent (of its ${ttlSeconds} s TTL): etcd may have expired it`)))
  } catch (err) {
    lost = true
    clearInterval(hedger)
    await lease.revoke().catch(() => lease.release())
    throw err
  }
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

/** FirstRenewal is {@link firstRenewal}'s promise and the calls that settle it. */
interface FirstRenewal {
  /** answered resolves at the first keepalive etcd answered with TTL > 0, rejects when the lease is lost first or none came in time. */
  answered: Promise<void>
  /** renewed reports a keepalive answered with TTL > 0. */
  renewed(): void
  /** start begins the wait's bound (call it when the grant is answered: keepalives start then). */
  start(): void
  /** cancel settles it as failed (the grant failed), so nothing is left pending. */
  cancel(): void
}

/**
 * firstRenewal is the wait of a new lease for its first answered keepalive, bounded by one TTL
 * from the grant's answer, or until etcd3 reports the lease lost (a TTL 0 answer: etcd expired
 * it meanwhile).
 *
 * Why a new lease waits for it: the grant vouches for 0.9×TTL from its own send
 * (leaseDeadline.ts), but the first keepalive can be sent only once the grant is answered (it
 * carries the id etcd chose), so its answer comes two round trips after the grant was sent.
 * With etcd answering in 0.45 to 0.8 of the TTL, a live lease keeps up (one round trip per
 * renewal) but every new one passed its deadline before any keepalive was answered, and a
 * member whose lease lapsed never got one back (test/integration/node/nodeSlowEtcd). A
 * keepalive answered with TTL > 0 proves the lease existed, unexpired, when etcd read it (etcd
 * renews no expired lease: it answers TTL 0 once it is revoked), and alive for a TTL from then;
 * nothing was attached to the lease and no one acted under it before, so a stretch before the
 * answer in which the holder could not have proven it alive cost nothing. The handle then
 * counts on 0.9×TTL from that keepalive's send, exactly as it would for a live lease.
 */
function firstRenewal(lease: etcd.Lease, ttlSeconds: number): FirstRenewal {
  let resolve!: () => void
  let reject!: (err: Error) => void
  const answered = new Promise<void>((res, rej) => {
    resolve = res
    reject = rej
  })
  // Settled before anyone awaits it when the grant fails: not an unhandled rejection.
  answered.catch(() => undefined)
  let timer: NodeJS.Timeout | undefined
  let settled = false
  const settle = (err?: Error) => {
    if (settled) return
    settled = true
    clearTimeout(timer)
    lease.off('lost', onLost)
    if (err) reject(err)
    else resolve()
  }
  const onLost = (err: Error) => settle(err)
  lease.on('lost', onLost)
  return {
    answered,
    renewed: () => settle(),
    start() {
      if (settled) return
      // A member that cannot get a keepalive answered within a TTL could not keep a lease (renewals need 0.8×TTL).
      timer = setTimeout(() => settle(new etcd.GRPCDeadlineExceededError(`no keepalive of the new lease was answered within its ${ttlSeconds} s TTL of the grant's answer`)), ttlSeconds * 1000)
      timer.unref()
    },
    cancel: () => settle(new Error('the lease was not granted')),
  }
}
