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
 *   it). None holds any: nothing was migrated that a replica kept, and the slot can be rolled
 *   back on the source alone (`target` null).
 * Returns undefined when no live master fits (the caller refuses, naming the slot).
 */
export function resolveOpenSlotSides(input: OpenSlotInput): {source: string; target: string | null} | undefined {
  const {source, target, masters} = input
  const live = new Set(masters.map((m) => m.id))
  const sourceLive = source !== undefined && live.has(source)
  const targetLive = target !== undefined && live.has(target)
  if (sourceLive && targetLive) return {source, target}
  if (!sourceLive && targetLive) {
    const owners = masters.filter((m) => m.id !== target && m.owns)
    return owners.length === 1 ? {source: owners[0]!.id, target} : undefined
  }
  if (sourceLive && !targetLive) {
    const holders = masters.filter((m) => m.id !== source && !m.owns && m.keys > 0)
    if (holders.length > 1) return undefined
    return {source, target: holders[0]?.id ?? null}
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
}
