import {type ServiceContext} from '../cluster/serviceContext.js'
import {UserError, errorMessage, isUserError} from '../errors/errors.js'
import {lowerWriteFloor, parseWriteFloor} from '../model/writeFloor.js'
import {type Compare} from '../store/store.js'

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
 *
 * Returns the fence the registration that follows must commit under (RouterRegistration.register):
 * the floor as this call left it (its mod revision, or absent) and the cluster's meta as read
 * first (its create revision). `cluster init --force` deletes both and writes a new, empty floor
 * with new meta: a registration fenced so lands only in the cluster whose floor covers this
 * router (else it fails with {@link FloorFenceError} and the router lowers the floor again).
 * Without the fence, a router that lowered the old floor, or read the floor absent while the
 * cluster was being re-created, registered in the new cluster with its floor saying nothing of
 * it (test/router/writeFloorInitRace.memoryStore.test.ts). No meta at all: the cluster is being
 * created or re-created (its meta is written last, with the floor): NOT_FOUND, start again.
 */
export async function recordWriteQuorum(ctx: ServiceContext, router: {id: string; w: number | null}): Promise<Compare[]> {
  const what = router.w === null ? 'a majority write quorum' : `--w ${router.w}`
  let meta
  try {
    meta = await ctx.store.get(ctx.keys.meta)
  } catch (err) {
    throw unwritable(router.id, what, ctx.keys.writeFloor, err)
  }
  if (!meta) throw new UserError('NOT_FOUND', `router ${router.id} cannot record its ${what} in the cluster's write floor: cluster "${ctx.cluster}" does not exist (being created or re-created?)`, 'start the router once `cluster init` has finished')
  const cluster: Compare = {key: ctx.keys.meta, createRevision: meta.createRevision}
  try {
    for (let i = 0; i < FLOOR_CAS_ATTEMPTS; i++) {
      const kv = await ctx.store.get(ctx.keys.writeFloor)
      const floor = kv && parseWriteFloor(kv.value)
      // Absent (or unreadable: left alone too, it reads as w = 1): the registration needs it unchanged.
      if (!kv) return [cluster, {key: ctx.keys.writeFloor, modRevision: 0n}]
      if (!floor) return [cluster, {key: ctx.keys.writeFloor, modRevision: kv.modRevision}]
      const lowered = lowerWriteFloor(floor, router.w, router.id, ctx.clock().toISOString())
      if (!lowered) return [cluster, {key: ctx.keys.writeFloor, modRevision: kv.modRevision}]
      const rev = await ctx.store.commit({compares: [cluster, {key: ctx.keys.writeFloor, modRevision: kv.modRevision}], puts: [{key: ctx.keys.writeFloor, value: JSON.stringify(lowered)}]})
      if (rev !== undefined) return [cluster, {key: ctx.keys.writeFloor, modRevision: rev}]
    }
  } catch (err) {
    throw unwritable(router.id, what, ctx.keys.writeFloor, err)
  }
  throw new UserError('CONFLICT', `router ${router.id} cannot record its ${what} in the cluster's write floor: it changed ${FLOOR_CAS_ATTEMPTS} times while being written`, 'start the router again')
}

function unwritable(id: string, what: string, key: string, err: unknown): UserError {
  const code = isUserError(err) ? err.code : 'ETCD_UNREACHABLE'
  return new UserError(code, `router ${id} cannot record its ${what} in the cluster's write floor (${key}): ${errorMessage(err)}`, 'check etcd and start the router again; it does not serve before the floor covers its --w', {cause: err})
}

/**
 * FloorFenceError: a registration's fence failed (the cluster's meta or write floor changed
 * since the router lowered the floor: `cluster init --force`, or another router lowering it
 * meanwhile). The router lowers the floor again and retries the registration.
 */
export class FloorFenceError extends UserError {
  constructor(id: string) {
    super('CONFLICT', `router ${id}: the cluster's write floor or meta changed while it registered`, 'the router lowers the floor again and registers')
    this.name = 'FloorFenceError'
  }
}
