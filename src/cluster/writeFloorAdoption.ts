import {UserError, errorMessage, isUserError} from '../errors/errors.js'
import {floorLimitsText, type WriteFloor, parseWriteFloor} from '../model/writeFloor.js'
import {adoptWriteFloor, type LowestW} from '../model/writeFloorAdoption.js'
import {listRouterQuorums} from '../router/routerRegistration.js'
import {recordWriteQuorum} from '../router/writeFloorRecord.js'
import {getMeta} from './clusterRepo.js'
import {type ServiceContext} from './serviceContext.js'

/** AdoptionPreview is what the operator is shown before confirming: the floor that would be written. */
export interface AdoptionPreview {
  cluster: string
  rf: number
  floor: WriteFloor
  routers: number
}

/** WriteFloorAdoptionResult is what `cluster write-floor adopt` reports (and prints with --json). */
export interface WriteFloorAdoptionResult extends AdoptionPreview {
  revision: string
  /** loweredAfter names routers that registered while the floor was being written and lowered it further (as they would have, had it existed). */
  loweredAfter: string[]
}

async function preview(ctx: ServiceContext, stated: LowestW): Promise<AdoptionPreview & {metaRevision: bigint}> {
  const meta = await getMeta(ctx)
  // Routers first, the floor after: a router that registers in between is counted by the floor (this build lowered it, or left it absent) or not at all (older builds: the read after the write lowers it).
  const routers = await listRouterQuorums(ctx)
  const existing = await ctx.store.get(ctx.keys.writeFloor)
  const floor = adoptWriteFloor({existing: existing?.value, keyName: ctx.keys.writeFloor, stated, registered: routers.map((r) => r.w), now: ctx.clock().toISOString()})
  return {cluster: ctx.cluster, rf: meta.value.rf, floor, routers: routers.length, metaRevision: meta.modRevision}
}

const sameLimits = (a: WriteFloor, b: WriteFloor) => a.w === b.w && a.majority === b.majority

/**
 * adoptClusterWriteFloor creates the write floor of a cluster created before it existed
 * (`write-floor` absent, read as w = 1 by every move with a down source) from the
 * operator's statement `stated` of the smallest quorum any router ever ran with, lowered to
 * cover every registered router (src/model/writeFloorAdoption.ts). `confirm` sees the floor
 * before anything is written and throws to stop.
 *
 * Refused, changing nothing: an existing floor (ALREADY_EXISTS, exit 6), before or after the
 * question (a router of this build never creates one, but another adopt or `cluster init
 * --force` may); a registration that changed the result while the operator was asked
 * (CONFLICT, exit 7: run it again to see the new one). The write is one transaction
 * conditioned on the key still being absent and the cluster's meta unchanged.
 *
 * A router of this build that read the floor as absent just before the write cannot register
 * just after it without lowering it (its registration is fenced on the floor's absence:
 * src/router/writeFloorRecord.ts). Routers of older builds never lower it, so the registrations
 * are read once more after the write and the floor is lowered for each (recordWriteQuorum, as
 * a router of this build would have); an older-build router that starts and stops between the
 * preview and that read is not seen (docs/moves.md: adopt while none is starting).
 */
export async function adoptClusterWriteFloor(ctx: ServiceContext, stated: LowestW, confirm: (p: AdoptionPreview) => Promise<void>): Promise<WriteFloorAdoptionResult> {
  const shown = await preview(ctx, stated)
  const {metaRevision: _, ...visible} = shown
  await confirm(visible)
  const now = await preview(ctx, stated)
  if (now.metaRevision !== shown.metaRevision) throw new UserError('CONFLICT', `cluster "${ctx.cluster}" changed while you were asked: nothing was written`, 'run the command again')
  if (!sameLimits(now.floor, shown.floor)) throw new UserError('CONFLICT', `the registered routers changed while you were asked (the floor would now be ${floorLimitsText(now.floor)}, not ${floorLimitsText(shown.floor)}): nothing was written`, 'run the command again to see the new floor')
  const floor = now.floor
  const revision = await ctx.store.commit({
    compares: [
      {key: ctx.keys.writeFloor, createRevision: 0n},
      {key: ctx.keys.meta, modRevision: now.metaRevision},
    ],
    puts: [{key: ctx.keys.writeFloor, value: JSON.stringify(floor)}],
  })
  if (revision === undefined) {
    if (await ctx.store.get(ctx.keys.writeFloor)) throw new UserError('ALREADY_EXISTS', 'the write floor was created while adopting it (another adopt, or `cluster init --force`): nothing was written', 'see it with `shardctl cluster status`')
    throw new UserError('CONFLICT', `cluster "${ctx.cluster}" changed while adopting its write floor: nothing was written`, 'run the command again')
  }
  const loweredAfter: string[] = []
  let routers
  try {
    routers = await listRouterQuorums(ctx)
  } catch (err) {
    throw failedAfterWrite(revision, 'reading the registered routers (to lower it for any that registered during adoption)', err, 'then `shardctl cluster status`; a router of this build that registered meanwhile lowered the floor itself, one of an older build lowers it once restarted with this build')
  }
  for (const r of routers) {
    try {
      const before = await ctx.store.get(ctx.keys.writeFloor)
      await recordWriteQuorum(ctx, {id: r.id, w: r.w === undefined ? 1 : r.w})
      const after = await ctx.store.get(ctx.keys.writeFloor)
      if (before?.modRevision !== after?.modRevision) loweredAfter.push(r.id)
    } catch (err) {
      throw failedAfterWrite(revision, `lowering it for router ${r.id}`, err, `then \`shardctl cluster status\`: if the floor is above router ${r.id}'s --w (it registered during adoption), restarting router ${r.id} makes it lower the floor itself if it is of this build`)
    }
  }
  let final
  try {
    final = await ctx.store.get(ctx.keys.writeFloor)
  } catch (err) {
    throw failedAfterWrite(revision, 'reading it back', err, 'then `shardctl cluster status`')
  }
  return {...visible, floor: (final && parseWriteFloor(final.value)) ?? floor, revision: revision.toString(), loweredAfter}
}

/**
 * failedAfterWrite is the one-line error of a step after the floor was written: the floor
 * exists (adopting again is refused), so the advice of the step's own error ("start the router
 * again", from recordWriteQuorum) is wrong here. Keeps the underlying code (exit code); what is
 * not a UserError is a bug (the store's errors are coded) and is rethrown as it is.
 */
function failedAfterWrite(revision: bigint, step: string, err: unknown, then: string): unknown {
  if (!isUserError(err)) return err
  // recordWriteQuorum wraps the store's error in a router's words; the store's own says what failed.
  const reason = errorMessage(err.cause ?? err)
  return new UserError(err.code, `the write floor was written at revision ${revision}, but ${step} failed: ${reason}`, `check etcd, ${then}`, {cause: err})
}
