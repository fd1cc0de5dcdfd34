import {type EtcdStore} from './etcdStore.js'

/** LeaseHandle is a granted etcd lease kept alive in the background. */
export interface LeaseHandle {
  /** id is the lease id, for puts attached to it and for fencing compares. */
  id: string
  /** lost is true once keepalives failed past the TTL or the lease was revoked; the holder must stop acting. */
  readonly lost: boolean
  /** onLost registers a callback fired once when the lease is lost. */
  onLost(fn: (err: Error) => void): void
  /** revoke ends the lease now, deleting every key attached to it. Idempotent. */
  revoke(): Promise<void>
}

/**
 * grantLease creates a lease of `ttlSeconds` and keeps it alive. Loss is detected by
 * etcd3's keepalive (after about 2×TTL of failures, see STACK.md); callers that must be
 * safe also fence their writes on the lease's key create revision, never on this signal alone.
 */
export async function grantLease(store: EtcdStore, ttlSeconds: number): Promise<LeaseHandle> {
  const lease = store.client.lease(ttlSeconds, {autoKeepAlive: true})
  const id = await store.wrap(() => lease.grant())
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
