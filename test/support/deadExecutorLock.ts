import {hostname} from 'node:os'
import {type ServiceContext} from '../../src/cluster/serviceContext.js'
import {processAlive} from '../../src/daemon/processAlive.js'
import {parseLockHolder} from '../../src/etcd/leaseLock.js'

/**
 * expireDeadExecutorLock revokes the lease of the executor lock whose holder process is gone,
 * which is what etcd itself does once the lease's TTL (10 s) passes without a keepalive: a test
 * that SIGKILLed an executor then reaches `apply --resume` (or a standby autopilot) at once
 * instead of sitting the TTL out. Only for a dead holder: throws when the holder's pid still
 * runs on this host (a live executor keeps its lock; that is not a lapse). With `holder`, only
 * that holder's lock is expired (a lock already lapsed and taken by another is left alone).
 * Returns the name of the holder whose lock it expired, null when it expired none.
 */
export async function expireDeadExecutorLock(ctx: ServiceContext, opts: {holder?: string} = {}): Promise<string | null> {
  const kv = await ctx.store.get(ctx.keys.executorLock)
  if (!kv) return null
  const holder = parseLockHolder(kv.value)
  if (!holder) throw new Error(`expireDeadExecutorLock: the executor lock holds no holder record: ${kv.value.slice(0, 200)}`)
  if (opts.holder !== undefined && holder.holder !== opts.holder) return null
  if (holder.host === hostname() && processAlive(holder.pid)) throw new Error(`expireDeadExecutorLock: the holder ${holder.holder} (pid ${holder.pid}) still runs; its lease must lapse on its own`)
  await ctx.store.revokeLease(kv.lease)
  return holder.holder
}
