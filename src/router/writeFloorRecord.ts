import {type ServiceContext} from '../cluster/serviceContext.js'
import {UserError, errorMessage, isUserError} from '../errors/errors.js'
import {lowerWriteFloor, parseWriteFloor} from '../model/writeFloor.js'

/** FLOOR_CAS_ATTEMPTS bounds the compare-and-swap retries against routers starting at the same time (each lost round means another router lowered it). */
const FLOOR_CAS_ATTEMPTS = 20

/**
 * recordWriteQuorum lowers the cluster's write floor (`write-floor`, src/model/writeFloor.ts)
 * to cover a router about to run with quorum `w` (a `--w` count, or null for a majority).
 * The router calls it before every registration, so before it acknowledges any client write
 * (it serves only while registered): whatever write a router ever acknowledged, the floor
 * already said its quorum could be that small, and a move whose source is down reads it
 * (src/executor/liveCopySources.ts), whether the router is still running or not.
 *
 * Compare-and-swap on the key's mod revision, so two routers starting at once both count
 * (the loser re-reads and lowers what the winner wrote); only ever lowered. An absent or
 * unreadable floor is left alone: it already reads as w = 1, the most permissive (a cluster
 * created before the floor existed). Throws a one-line UserError when the floor cannot be
 * written (etcd unreachable, or it kept changing): the router must not start without it.
 */
export async function recordWriteQuorum(ctx: ServiceContext, router: {id: string; w: number | null}): Promise<void> {
  const what = router.w === null ? 'a majority write quorum' : `--w ${router.w}`
  try {
    for (let i = 0; i < FLOOR_CAS_ATTEMPTS; i++) {
      const kv = await ctx.store.get(ctx.keys.writeFloor)
      const floor = kv && parseWriteFloor(kv.value)
      if (!kv || !floor) return
      const lowered = lowerWriteFloor(floor, router.w, router.id, ctx.clock().toISOString())
      if (!lowered) return
      if ((await ctx.store.commit({compares: [{key: ctx.keys.writeFloor, modRevision: kv.modRevision}], puts: [{key: ctx.keys.writeFloor, value: JSON.stringify(lowered)}]})) !== undefined) return
    }
  } catch (err) {
    const code = isUserError(err) ? err.code : 'ETCD_UNREACHABLE'
    throw new UserError(code, `router ${router.id} cannot record its ${what} in the cluster's write floor (${ctx.keys.writeFloor}): ${errorMessage(err)}`, 'check etcd and start the router again; it does not serve before the floor covers its --w', {cause: err})
  }
  throw new UserError('CONFLICT', `router ${router.id} cannot record its ${what} in the cluster's write floor: it changed ${FLOOR_CAS_ATTEMPTS} times while being written`, 'start the router again')
}
