import {z} from 'zod'
import {majority} from './majority.js'

/**
 * WriteFloorSchema: the cluster's write floor (`write-floor`, not leased): the smallest write
 * quorum any router has ever run with on this cluster, so a move whose source is down can
 * tell whether a write may have been acknowledged by the source alone, also by a router long
 * gone (its leased `routers/<id>` entry says nothing once it stops).
 *
 * A router's quorum is an explicit `--w` (a count, clamped to a shard's voters) or a majority
 * of each shard's voters (no `--w`). Neither is smaller at every voter count (5 voters:
 * majority 3 > `--w 2`; 3 voters: majority 2 < `--w 3`), so the floor keeps both parts:
 *
 * - `w`: the smallest explicit `--w` any router ran with; null while none has.
 * - `majority`: some router ran with a majority.
 *
 * The smallest quorum for a shard of V voters is then min(w clamped to V, majority(V)) over
 * the parts present (see {@link floorQuorums}). `updatedAt` and `by` name the last router
 * that lowered it, for operators. Only ever lowered (see src/router/writeFloorRecord.ts).
 * `adopted` is there when an operator created it for a cluster that predates the floor
 * (`cluster write-floor adopt`, src/model/writeFloorAdoption.ts): when, what they stated
 * (`--lowest-w`), and how many routers were registered then; routers keep it as they lower.
 */
export const WriteFloorSchema = z.object({
  version: z.literal(1),
  w: z.number().int().min(1).nullable(),
  majority: z.boolean(),
  updatedAt: z.string(),
  by: z.string().nullable(),
  adopted: z.object({at: z.string(), lowestW: z.string(), routers: z.number().int().nonnegative()}).optional(),
})

/** WriteFloor is a validated write floor. */
export type WriteFloor = z.infer<typeof WriteFloorSchema>

/** newWriteFloor is the floor of a cluster no router has run on yet (written by `cluster init`). */
export function newWriteFloor(now: string): WriteFloor {
  return {version: 1, w: null, majority: false, updatedAt: now, by: null}
}

/**
 * lowerWriteFloor (pure) is `floor` once a router with quorum `w` (a count, or null for a
 * majority) has run: the smaller explicit count, or the majority part set. Undefined when
 * the floor already covers that router (nothing to write). Never raises anything: the
 * result is at most `floor` for every voter count.
 */
export function lowerWriteFloor(floor: WriteFloor, w: number | null, by: string, now: string): WriteFloor | undefined {
  if (w === null) return floor.majority ? undefined : {...floor, majority: true, updatedAt: now, by}
  if (floor.w !== null && floor.w <= w) return undefined
  return {...floor, w, updatedAt: now, by}
}

/**
 * floorQuorums (pure) lists the floor as the quorums effectiveWriteQuorum reads (a count, null
 * for a majority, undefined for "unknown: may be 1"). An absent or unreadable floor is
 * unknown: a cluster created before the floor existed may have run `--w 1` routers, so it
 * counts as w = 1. A floor no router has lowered yet lists nothing (only the registered
 * routers then count).
 */
export function floorQuorums(floor: WriteFloor | undefined): (number | null | undefined)[] {
  if (!floor) return [undefined]
  return [...(floor.w === null ? [] : [floor.w]), ...(floor.majority ? [null] : [])]
}

/**
 * effectiveWriteQuorum (pure) is the smallest write quorum any router may have acknowledged a
 * write of a shard with `voters` voters under: the minimum over routers (undefined counts
 * as 1, a router that does not say may run with `--w 1`), clamped to the voter count;
 * a majority when no router is registered.
 */
export function effectiveWriteQuorum(voters: number, routerW: readonly (number | null | undefined)[]): number {
  const each = routerW.map((w) => (w === undefined ? 1 : w === null ? majority(voters) : Math.min(w, voters)))
  return Math.max(1, each.length === 0 ? majority(voters) : Math.min(...each))
}

/** MAX_VOTERS bounds the voter counts {@link fallbackVoters} looks at (the largest rf `cluster init` takes). */
const MAX_VOTERS = 7

/**
 * fallbackVoters (pure) is the smallest voter count at which `floor` lets a move whose source
 * is down copy from the other voters (its write quorum there is at least 2, so a write cannot
 * live on the source alone: the executor's copy-source choice, src/executor/copySources.ts,
 * does not wait), or undefined when it lets none (w = 1 at every count up to 7). The quorum
 * only grows with the voter count, so every larger shard may too. For the operator, before
 * `cluster write-floor adopt` (`cluster status` says it too).
 */
export function fallbackVoters(floor: WriteFloor): number | undefined {
  for (let v = 1; v <= MAX_VOTERS; v++) if (effectiveWriteQuorum(v, floorQuorums(floor)) >= 2) return v
  return undefined
}

/**
 * floorLimitsText (pure) is the floor's limits in words, as `cluster status`, `cluster
 * write-floor adopt` and its errors print them: `--w 2`, `majority`, `--w 2 and majority`;
 * empty while no router has lowered it (a new cluster's floor).
 */
export function floorLimitsText(floor: WriteFloor): string {
  return [...(floor.w === null ? [] : [`--w ${floor.w}`]), ...(floor.majority ? ['majority'] : [])].join(' and ')
}

/** parseWriteFloor reads the stored value: the floor, or undefined when it is not JSON or not a valid floor (read as unknown). */
export function parseWriteFloor(value: string): WriteFloor | undefined {
  let json: unknown
  try {
    json = JSON.parse(value)
  } catch {
    return undefined
  }
  const r = WriteFloorSchema.safeParse(json)
  return r.success ? r.data : undefined
}
