import {type RedisClusterNode} from './clusterNodes.js'

/**
 * resolveOpenSlotSides (pure) names the two live masters that can close a slot left open
 * when one side of the migration is no longer a live master: Redis failed it over, and the
 * MIGRATING/IMPORTING marks are not replicated (Redis 7.0), so the replica that took its place
 * carries its keys but not its mark, while the other side still points at the failed node.
 * - The source (MIGRATING side) failed: its successor is the live master other than the
 *   target that serves the slot by its own view (it took over the failed master's slots; the
 *   target's view, frozen by its IMPORTING mark, still names the failed node). The keys
 *   already migrated are on the target only: the successor serves the slot without ASK, so
 *   clients read them as missing until the slot is finished towards the target.
 * - The target (IMPORTING side) failed: its successor is the live master other than the
 *   source that holds keys of the slot without serving it (the migrated keys, replicated to
 *   it). None holds any: the slot is rolled back on the source alone (`target` null), but only
 *   when the failed target is shown replaced (`targetReplaced`): a target that is merely down
 *   (flagged `fail` with no replica to take over, or its election still running) holds the
 *   migrated keys, which a rollback would leave unreachable once it returns.
 * A live master other than the marked sides that also serves the slot (a failed-over source
 * that resumed and still answers as its owner, next to the replica that took over) makes the
 * sides ambiguous: refused.
 * Returns undefined when no live master fits, or more than one does (the caller refuses, naming the slot).
 */
export function resolveOpenSlotSides(input: OpenSlotInput): {source: string; target: string | null} | undefined {
  const {source, target, masters} = input
  const live = new Set(masters.map((m) => m.id))
  const sourceLive = source !== undefined && live.has(source)
  const targetLive = target !== undefined && live.has(target)
  if (sourceLive && targetLive) return masters.some((m) => m.owns && m.id !== source && m.id !== target) ? undefined : {source, target}
  if (!sourceLive && targetLive) {
    const owners = masters.filter((m) => m.id !== target && m.owns)
    return owners.length === 1 ? {source: owners[0]!.id, target} : undefined
  }
  if (sourceLive && !targetLive) {
    if (masters.some((m) => m.owns && m.id !== source)) return undefined
    const holders = masters.filter((m) => m.id !== source && !m.owns && m.keys > 0)
    if (holders.length > 1) return undefined
    if (holders.length === 0) return input.targetReplaced === true ? {source, target: null} : undefined
    return {source, target: holders[0]!.id}
  }
  return undefined
}

/** OpenSlotInput is what the masters say about one open slot: the ids its marks name (either may be a failed node) and every live master's own view of it. */
export interface OpenSlotInput {
  /** source is the MIGRATING side (from a live master's mark, or a target's IMPORTING mark), target the IMPORTING side; undefined when no mark names it. */
  source: string | undefined
  target: string | undefined
  /** masters are the live masters, each with whether it serves the slot by its own view and how many keys of it it holds. */
  masters: readonly {id: string; owns: boolean; keys: number}[]
  /** targetReplaced tells, when the target is not a live master, whether the cluster shows it replaced (see failedTargetReplaced); without it, no key anywhere is no reason to roll back. */
  targetReplaced?: boolean
}

/**
 * failedTargetReplaced (pure) tells whether the live masters' `CLUSTER NODES` views (`views`,
 * one list per live master) show the failed node `id` replaced, so that what it holds is
 * superseded: some view lists it as a replica (it rejoined under the master that took over),
 * or a live master took over its slots: no view gives it a slot or a replica (none is left to
 * elect) while its config epoch says it once served slots (a master that never did keeps epoch
 * 0, and Redis never fails over a master without slots). A node some view still gives slots
 * (no replica to take over, or the election still running) or a replica is not replaced, nor
 * one no view lists at all.
 */
export function failedTargetReplaced(id: string, views: readonly (readonly RedisClusterNode[])[]): boolean {
  const entries = views.map((v) => v.find((n) => n.id === id)).filter((n) => n !== undefined)
  if (entries.length === 0) return false
  if (entries.some((n) => n.masterId !== null || n.flags.includes('slave'))) return true
  if (entries.some((n) => n.slots.length > 0)) return false
  if (views.some((v) => v.some((n) => n.masterId === id))) return false
  return entries.every((n) => n.configEpoch > 0)
}
