import type * as etcd from 'etcd3'
import {type LeaseHandle, type Store} from '../store/store.js'

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
 * kept alive by etcd3. Loss is detected by etcd3's keepalive: at once when etcd answers a
 * keepalive with TTL 0 (revoked or expired), after about 2×TTL of failures otherwise.
 */
export async function grantEtcdLease(client: etcd.Etcd3, wrap: <T>(fn: () => Promise<T>) => Promise<T>, ttlSeconds: number): Promise<LeaseHandle> {
  const lease = client.lease(ttlSeconds, {autoKeepAlive: true})
  const id = await wrap(() => lease.grant())
  let lost = false
  const callbacks: ((err: Error) => void)[] = []
  lease.on('lost', (err) => {
    if (lost) return
    lost = true
    for (const cb of callbacks) cb(err)
  })
  return {
    id,
    get lost() {
      return lost || lease.revoked()
    },
    onLost(fn) {
      callbacks.push(fn)
    },
    async revoke() {
      if (lease.revoked()) return
      await lease.revoke().catch(() => lease.release())
    },
  }
}
