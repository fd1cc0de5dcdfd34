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
 * (it serves only while registered, or after a lapse while the floor it registered under still
 * stands: LapsedServing): whatever write a router ever acknowledged, the floor
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
 * the floor this call left covering the router (its create revision, or its absence) and the
 * cluster's meta as read first (its create revision). `cluster init --force` deletes both and
 * writes a new, empty floor with new meta: a registration fenced so lands only in the cluster
 * whose floor covers this router (else it fails with {@link FloorFenceError} and the router
 * lowers the floor again). The floor's create revision, not its mod revision: the floor only
 * goes down, so another router lowering it meanwhile still covers this one and must not fail
 * the fence; only a re-created floor (a new create revision) may have forgotten it.
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
      // Absent: the registration needs it still absent. Present (unreadable ones are left alone:
      // they read as w = 1): the same key, not re-created since; later lowering by others is fine.
      if (!kv) return [cluster, {key: ctx.keys.writeFloor, createRevision: 0n}]
      const sameFloor: Compare = {key: ctx.keys.writeFloor, createRevision: kv.createRevision}
      if (!floor) return [cluster, sameFloor]
      const lowered = lowerWriteFloor(floor, router.w, router.id, ctx.clock().toISOString())
      if (!lowered) return [cluster, sameFloor]
      const rev = await ctx.store.commit({compares: [cluster, {key: ctx.keys.writeFloor, modRevision: kv.modRevision}], puts: [{key: ctx.keys.writeFloor, value: JSON.stringify(lowered)}]})
      if (rev !== undefined) return [cluster, sameFloor]
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

/** FENCE_HINT is what an operator can do when a router's registration keeps failing its fence. */
const FENCE_HINT = 'is `cluster init --force` or another router starting? start the router again'

/**
 * FloorFenceError: a registration's fence failed (the cluster's meta was re-created, or its
 * write floor deleted or re-created, since the router lowered the floor: `cluster init --force`).
 * The router lowers the floor again and retries, a bounded number of rounds
 * ({@link registrationGaveUp} once they are spent).
 */
export class FloorFenceError extends UserError {
  constructor(id: string) {
    super('CONFLICT', `router ${id}: the cluster's write floor or meta changed while it registered`, FENCE_HINT)
    this.name = 'FloorFenceError'
  }
}

/** registrationGaveUp is the one-line error (CONFLICT, exit 7) of a router whose registration failed its fence `rounds` times: it does not start. */
export function registrationGaveUp(id: string, rounds: number): UserError {
  return new UserError('CONFLICT', `router ${id} did not register: the cluster's write floor or meta changed each of the ${rounds} times it lowered the floor and registered`, FENCE_HINT)
}
