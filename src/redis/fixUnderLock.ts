import {type ServiceContext} from '../cluster/serviceContext.js'
import {acquireLock} from '../etcd/leaseLock.js'
import {isUserError, UserError} from '../errors/errors.js'
import {type FixOptions, type FixResult, fixOpenSlots} from './fixOpenSlots.js'
import {leaseGuards} from './leaseGuards.js'

/** FIX_LOCK_HOLDER names `redis fix` in the executor lock, so a refused `apply` says who holds it. */
export const FIX_LOCK_HOLDER = 'shardctl redis fix --yes'

/**
 * fixUnderLock runs `redis fix --yes` (fixOpenSlots, not a dry run) holding the cluster's
 * executor lock from before it reads the masters until it is done. Without it, `redis fix`
 * checked the lock once at its start and then changed slots with no lock at all: an `apply`
 * started meanwhile (or an executor frozen past its check) opened, migrated and assigned the
 * same slots at the same time. Held, the lock refuses every executor (LOCK_HELD naming this
 * holder), and every command that changes the cluster goes through the lease checks the redis
 * runner uses (leaseGuards.ts): once the lease is lost or nearly so, `redis fix` stops with
 * LOCK_HELD (exit 8) before sending anything more, and a MIGRATE cannot outlast the lease.
 * Throws LOCK_HELD naming the holder when an executor (or another `redis fix`) holds the lock.
 */
export async function fixUnderLock(ctx: ServiceContext, seed: string, opts: Omit<FixOptions, 'guards'> = {}): Promise<FixResult> {
  const lock = await acquireLock(ctx.store, ctx.keys.executorLock, FIX_LOCK_HOLDER).catch((err: unknown) => {
    if (!isUserError(err, 'LOCK_HELD')) throw err
    throw new UserError('LOCK_HELD', `redis fix not started: ${err.message}`, 'an executor finishes its own open slots: wait for it, or stop it and run `shardctl apply --resume`; a dead holder releases the lock when its lease expires (10 s)')
  })
  try {
    const guards = leaseGuards(
      () => ({key: lock.key, lost: !lock.held(), msLeft: lock.lease.msLeft?.() ?? null}),
       (_key, message) => new UserError('LOCK_HELD', message, 'nothing more was sent; the slots may be left open: run `shardctl redis fix --yes` again (it reads every slot afresh), or `apply --resume` if an executor took over'),
    )
    return await fixOpenSlots(seed, false, {...opts, guards})
  } finally {
    await lock.release()
  }
}
