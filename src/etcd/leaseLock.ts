import {hostname} from 'node:os'
import {z} from 'zod'
import {boundedWait} from '../clock/boundedWait.js'
import {LeasedMembership, REVOKE_WAIT_MS} from '../store/leasedMembership.js'
import {UserError} from '../errors/errors.js'
import {type Compare, type LeaseHandle, type Store} from '../store/store.js'

/** LockHolderSchema: the value of a lock key: who holds it, so a refused acquirer can say. */
export const LockHolderSchema = z.object({
  holder: z.string(),
  host: z.string(),
  pid: z.number().int(),
  acquiredAt: z.string(),
  /**
   * plan, on the executor lock only: what the executor runs. A plan id: that plan's moves and
   * those its apply took over from other plans (adoptedMoves); null: `apply --resume`, every
   * recorded unfinished move. Absent: not said (`redis fix`, which runs no move, or an older
   * executor): `moves cancel --plan` then cannot say whether the holder runs a plan's moves.
   */
  plan: z.string().nullable().optional(),
})

/** LockHolder describes the process holding a lock. */
export type LockHolder = z.infer<typeof LockHolderSchema>

/** HeldLock is an acquired lock. */
export interface HeldLock {
  key: string
  lease: LeaseHandle
  /** createRevision of the lock key: add {@link HeldLock.fence} to every transaction made under the lock. */
  createRevision: bigint
  /** fence is the compare that makes a transaction fail if this lock was lost and taken by someone else. */
  fence: Compare
  /** held is false once the lease was lost or the lock's release begun (a hint for stopping early, and the executor's gate on node requests; safety in etcd comes from {@link fence}). */
  held(): boolean
  /** release deletes the lock key (only if it is still this holder's) and revokes the lease. Idempotent. */
  release(): Promise<void>
}

/**
 * LockHeldError is {@link acquireLock}'s refusal (LOCK_HELD, exit 8): another process holds
 * the lock, so nothing was done under it. Its own class because LOCK_HELD is also the code of
 * a holder fenced out after its lease was lost (the executor's LockLostError), which comes
 * after work was done: a caller that defers on the first (the autopilot) must tell the two apart.
 */
export class LockHeldError extends UserError {
  constructor(message: string, hint: string) {
    super('LOCK_HELD', message, hint)
  }
}

/**
 * LockLapsedError is {@link acquireLock}'s CONFLICT when the lease lapsed while the lock was
 * being taken: nothing was done under it. Its own class because a caller's other CONFLICTs
 * (the executor's, after it changed things) mean work was done.
 */
export class LockLapsedError extends UserError {
  constructor(message: string, hint: string) {
    super('CONFLICT', message, hint)
  }
}

/**
 * acquireLock takes the lease-backed lock at `key`, or throws LockHeldError (LOCK_HELD) naming
 * the current holder, or LockLapsedError (CONFLICT) when its lease lapsed while it was being taken. It does not wait. The lock vanishes with its lease when the holder
 * dies (after `ttlSeconds`). Writes made under it must carry `fence`, so a holder whose
 * lease lapsed cannot write after another process took over.
 *
 * The lease lifecycle is the {@link LeasedMembership} nodes and routers use, without
 * recovery: a lost lock stays lost (its fence is the old key's create revision, so the
 * holder must stop, and a later `apply --resume` takes a new one). A failed attempt never
 * leaves its lease kept alive. `runs` is written with the holder (the executor says which plan it runs).
 */
export async function acquireLock(store: Store, key: string, holder: string, ttlSeconds = 10, clock: () => Date = () => new Date(), runs?: Pick<LockHolder, 'plan'>): Promise<HeldLock> {
  const me: LockHolder = {holder, host: hostname(), pid: process.pid, acquiredAt: clock().toISOString(), ...runs}
  let createRevision: bigint | undefined
  const membership = new LeasedMembership({
    grant: () => store.grantLease(ttlSeconds),
    register: async (lease) => {
      createRevision = await store.commit({compares: [{key, createRevision: 0n}], puts: [{key, value: JSON.stringify(me), lease: lease.id}]})
      if (createRevision === undefined) throw await lockHeldError(store, key)
    },
    recover: false,
  })
  await membership.start()
  if (!membership.held()) {
    // The lease lapsed between the grant and the lock key's write: the key went with it.
    await membership.stop()
    throw new LockLapsedError(`${key}: the lease expired while the lock was being taken`, 'try again; if it keeps happening, check the connection to etcd')
  }
  const lease = membership.lease()!
  const rev = createRevision!
  let released: Promise<void> | undefined
  let releasing = false
  return {
    key,
    lease,
    createRevision: rev,
    fence: {key, createRevision: rev},
    // Not held from the moment release() is called: etcd may apply the key's delete, and another
    // process take the lock, before its answer comes back (up to REVOKE_WAIT_MS). Until session 39
    // held() stayed true over that gap, so a step of the releasing process that woke in it passed
    // the executor's lease gate (leaseGate.ts) and sent a node request under a lock another held.
    held: () => !releasing && membership.held(),
    release() {
      // Set before the delete is sent (the async body below runs up to its first await at once).
      releasing = true
      released ??= (async () => {
        // Delete only our own key: after a lapse someone else may hold the lock now. Bounded:
        // the revoke deletes it too, and a lease etcd does not hear revoked expires by its TTL.
        await boundedWait(store.commit({compares: [{key, createRevision: rev}], deletes: [key]}).catch(() => undefined), REVOKE_WAIT_MS)
        await membership.stop()
      })()
      return released
    },
  }
}

async function lockHeldError(store: Store, key: string): Promise<LockHeldError> {
  const current = await store.get(key).catch(() => undefined)
  const found = current ? parseLockHolder(current.value) : undefined
  const who = found ? `${found.holder} (pid ${found.pid} on ${found.host}, since ${found.acquiredAt})` : 'another process'
  return new LockHeldError(`${key} is held by ${who}`, 'wait for it to finish, or stop that process; a dead holder releases the lock when its lease expires')
}

/** parseLockHolder reads a lock key's value; undefined when it is not a valid holder record. */
export function parseLockHolder(raw: string): LockHolder | undefined {
  try {
    const parsed = LockHolderSchema.safeParse(JSON.parse(raw))
    return parsed.success ? parsed.data : undefined
  } catch {
    return undefined
  }
}
