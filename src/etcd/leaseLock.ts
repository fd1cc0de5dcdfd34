import {hostname} from 'node:os'
import {z} from 'zod'
import {UserError} from '../errors/errors.js'
import {type Compare, type Store} from '../store/store.js'
import {grantLease, type LeaseHandle} from './leaseHandle.js'

/** LockHolderSchema: the value of a lock key: who holds it, so a refused acquirer can say. */
export const LockHolderSchema = z.object({
  holder: z.string(),
  host: z.string(),
  pid: z.number().int(),
  acquiredAt: z.string(),
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
  release(): Promise<void>
}

/**
 * acquireLock takes the lease-backed lock at `key`, or throws UserError(LOCK_HELD) naming
 * the current holder. It does not wait. The lock vanishes with its lease when the holder
 * dies (after `ttlSeconds`). Writes made under it must carry `fence`, so a holder whose
 * lease lapsed cannot write after another process took over.
 */
export async function acquireLock(store: Store, key: string, holder: string, ttlSeconds = 10, clock: () => Date = () => new Date()): Promise<HeldLock> {
  const lease = await grantLease(store, ttlSeconds)
  const me: LockHolder = {holder, host: hostname(), pid: process.pid, acquiredAt: clock().toISOString()}
  let rev: bigint | undefined
  try {
    rev = await store.commit({compares: [{key, createRevision: 0n}], puts: [{key, value: JSON.stringify(me), lease: lease.id}]})
  } catch (err) {
    // Otherwise the lease would be kept alive for nothing (and keep the process running).
    await lease.revoke().catch(() => undefined)
    throw err
  }
  if (rev === undefined) {
    await lease.revoke()
    const current = await store.get(key)
    const found = current ? parseLockHolder(current.value) : undefined
    const who = found ? `${found.holder} (pid ${found.pid} on ${found.host}, since ${found.acquiredAt})` : 'another process'
    throw new UserError('LOCK_HELD', `${key} is held by ${who}`, 'wait for it to finish, or stop that process; a dead holder releases the lock when its lease expires')
  }
  return {
    key,
    lease,
    createRevision: rev,
    fence: {key, createRevision: rev},
    async release() {
      // Delete only our own key: after a lapse someone else may hold the lock now.
      await store.commit({compares: [{key, createRevision: rev}], deletes: [key]}).catch(() => undefined)
      await lease.revoke()
    },
  }
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
