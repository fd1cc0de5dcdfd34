/**
 * Config-epoch order at the end of a slot migration. Pure, no I/O.
 *
 * `CLUSTER SETSLOT <slot> NODE <target>` sent to the target of a migration (slot IMPORTING
 * there) calls clusterBumpConfigEpochWithoutConsensus: the target raises its config epoch to
 * currentEpoch + 1 only when its epoch is 0 or not already the highest it knows. Until the
 * source gets its own SETSLOT NODE, it keeps claiming the slot in its gossip, and any master
 * that hears two claims keeps the one with the higher config epoch
 * (clusterUpdateSlotsConfigWith); a target that loses the slot that way deletes the keys it
 * holds in it. So the target must come out of its SETSLOT NODE with an epoch strictly above
 * the source's, which holds when, before it:
 * - the target already knows the source's current epoch (otherwise it may think itself the
 *   highest and not raise: the source raised its epoch recently, e.g. as the target of the
 *   move before, and gossip has not carried it yet), and
 * - the two epochs differ, or the target's is 0 (equal non-zero epochs are a collision that
 *   Redis resolves by raising the one with the smaller node id, which may be the source).
 */

/** EpochReadings are the config epochs read just before the target's SETSLOT NODE, each from one master's own `CLUSTER NODES`. */
export interface EpochReadings {
  /** sourceOwn is the source's epoch by the source's own view. */
  sourceOwn: number
  /** targetOwn is the target's epoch by the target's own view. */
  targetOwn: number
  /** sourceSeenByTarget is the source's epoch by the target's view (undefined: the target does not list the source). */
  sourceSeenByTarget: number | undefined
}

/**
 * targetWillOutrankSource tells whether a SETSLOT NODE on the target now leaves the target
 * with a config epoch strictly above the source's (see the module comment), given that the
 * source's epoch does not change meanwhile (on a redis cluster the executor never runs a move out of a master that is another running move's target).
 */
export function targetWillOutrankSource(r: EpochReadings): boolean {
  if (r.sourceSeenByTarget === undefined || r.sourceSeenByTarget < r.sourceOwn) return false
  return r.targetOwn === 0 || r.targetOwn !== r.sourceOwn
}
