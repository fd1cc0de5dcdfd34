/** ReplacedRecord is what one replica held for a key just before it stored a client's tombstone: its version (absent: nothing) and whether it was a value. */
export interface ReplacedRecord {
  version?: string
  live: boolean
}

/**
 * deleteRemovedValue tells whether a delete removed a value, from what the replicas that
 * stored its tombstone had replaced there: the newest of those records decides (last
 * writer wins, as a quorum read of them just before the delete would have), so a replica
 * still holding a value an earlier delete already beat on another replica does not count.
 * A replica that held nothing ranks below any version. Returns undefined when no replica
 * could tell (each already held this tombstone: a retried round), never a guess.
 */
export function deleteRemovedValue(replaced: readonly ReplacedRecord[]): boolean | undefined {
  let newest: ReplacedRecord | undefined
  for (const r of replaced) {
    if (!newest || (r.version !== undefined && (newest.version === undefined || r.version > newest.version))) newest = r
  }
  return newest?.live
}
