import type * as etcd from 'etcd3'
import {LEASE_TRUSTED_SHARE} from './leaseDeadline.js'

/**
 * HEDGE_AFTER_SHARE: how long (as a share of the TTL) no keepalive of a lease may go unanswered
 * before keepalives are also sent to every etcd member on streams of their own. Keepalives go
 * every tenth of the TTL, so this is three unanswered in a row.
 */
export const HEDGE_AFTER_SHARE = 0.3

/**
 * hedgeDue (pure) tells whether a lease whose trusted deadline is `expiresAt` (leaseDeadline.ts)
 * has gone {@link HEDGE_AFTER_SHARE} of its TTL without an answered keepalive at `now`.
 *
 * Why: etcd3 sends a lease's keepalives on one stream, to one member. A member that is frozen
 * (SIGSTOP, a stalled disk or VM) keeps its TCP connection open and answers nothing: etcd3 notices
 * only after a whole TTL (and may reopen on the same member), gRPC's ping after 15 s, while the
 * lease is declared lost at 0.9 TTL. Until session 35 one frozen member of three, the cluster
 * healthy, cost every executor, node and router whose stream it carried its lease: `apply` stopped
 * and nodes stopped serving.
 */
export function hedgeDue(now: number, expiresAt: number, ttlSeconds: number): boolean {
  return expiresAt - now < ttlSeconds * 1000 * (LEASE_TRUSTED_SHARE - HEDGE_AFTER_SHARE)
}

/** PoolInternals is what {@link hedgeKeepalive} uses of etcd3's ConnectionPool (1.1.x internals). */
interface PoolInternals {
  hosts: unknown[]
  withConnection(service: 'Lease', fn: (c: {client: {leaseKeepAlive(metadata: unknown, options: {deadline: number}): HedgeStream}; metadata: unknown}) => HedgeStream, hosts: Iterator<unknown>): Promise<HedgeStream>
}

interface HedgeStream {
  write(msg: {ID: string}): boolean
  end(): void
  cancel(): void
  on(event: 'data', fn: (res: {TTL?: string | number}) => void): HedgeStream
  on(event: 'error', fn: (err: Error) => void): HedgeStream
}

/**
 * poolOf returns the connection pool a lease of etcd3 keeps itself alive through, or undefined
 * when etcd3's internals (1.1.x: `Lease.pool` with `hosts` and `withConnection`) are not there (a
 * test's fake pool, or a newer etcd3): the lease then works as before, safe but lost to a frozen
 * member; test/integration/etcd/leaseFrozenMember.test.ts fails if real etcd3 lost them.
 */
export function poolOf(lease: etcd.Lease): PoolInternals | undefined {
  const pool = (lease as unknown as {pool?: Partial<PoolInternals>}).pool
  if (!pool || !Array.isArray(pool.hosts) || typeof pool.withConnection !== 'function') return undefined
  return pool as PoolInternals
}

/**
 * hedgeKeepalive sends one keepalive of lease `id` to every member of `pool`, each on a stream
 * of its own that ends at its first answer or after `timeoutMs`, and calls `answered(sentAt,
 * ttlSeconds)` for each answer (leaseDeadline.ts counts it from when it was sent). Resolves when
 * every stream has ended. Never throws: a member that does not answer is what it works around.
 */
export async function hedgeKeepalive(pool: PoolInternals, id: string, timeoutMs: number, now: () => number, answered: (sentAt: number, ttlSeconds: number) => void): Promise<void> {
  await Promise.all(
    pool.hosts.map(async (host) => {
      const only = (function* () {
        for (;;) yield host
      })()
      try {
        const stream = await pool.withConnection('Lease', ({client, metadata}) => client.leaseKeepAlive(metadata, {deadline: Date.now() + timeoutMs}), only)
        await new Promise<void>((resolve) => {
          const sentAt = now()
          stream.on('data', (res) => {
            answered(sentAt, Number(res.TTL ?? 0))
            stream.cancel()
            resolve()
          })
          stream.on('error', () => resolve())
          stream.write({ID: id})
        })
      } catch {
        // The member is unreachable, or its circuit is open: the others answer.
      }
    }),
  )
}
