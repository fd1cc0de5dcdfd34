import {type ServiceContext} from '../cluster/serviceContext.js'
import {floorQuorums, parseWriteFloor} from '../model/writeFloor.js'
import {listRouterQuorums} from './routerRegistration.js'

/**
 * clusterWriteQuorums lists every write quorum a router may have acknowledged a write with,
 * as effectiveWriteQuorum (src/model/writeFloor.ts) reads them: the routers registered now
 * (`routers/<id>`), then the cluster's write floor (the smallest quorum any router ever ran
 * with, lowered by writeFloorRecord.ts before every registration; an absent one counts as
 * w = 1). The floor is read after the registrations: a router that registers in between
 * lowered it first, so none is missed. Throws what the store throws.
 *
 * Used by the executor's copy fallback (src/executor/writeQuorumFloor.ts) and by repair's
 * purge hold (src/repair/repairService.ts). Beside routerRegistration.ts, not in
 * writeFloorRecord.ts, which routerRegistration.ts imports.
 */
export async function clusterWriteQuorums(ctx: ServiceContext): Promise<(number | null | undefined)[]> {
  const registered = (await listRouterQuorums(ctx)).map((r) => r.w)
  const kv = await ctx.store.get(ctx.keys.writeFloor)
  return [...registered, ...floorQuorums(kv && parseWriteFloor(kv.value))]
}
