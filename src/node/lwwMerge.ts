import {type NodeRecord} from './protocol.js'

/**
 * compareRecords totally orders two records of the same key for last-writer-wins:
 * the larger version (formatHlc strings compare like compareHlc) wins; on equal versions,
 * which only a misbehaving writer produces, a tombstone beats a value and a larger value
 * beats a smaller one byte-wise. Because the order is total, {@link mergeRecord} is a
 * join: commutative, associative and idempotent, so replicas that saw the same set of
 * records hold the same one whatever the order and the repetitions.
 */
export function compareRecords(a: NodeRecord, b: NodeRecord): number {
  if (a.version !== b.version) return a.version < b.version ? -1 : 1
  if (a.value === null || b.value === null) return a.value === b.value ? 0 : a.value === null ? 1 : -1
  return Buffer.compare(a.value, b.value)
}

/** mergeRecord returns the LWW winner of `current` (absent: undefined) and `incoming`. */
export function mergeRecord(current: NodeRecord | undefined, incoming: NodeRecord): NodeRecord {
  if (current === undefined) return incoming
  return compareRecords(incoming, current) > 0 ? incoming : current
}

/** versionWall extracts the wall-clock milliseconds from a formatHlc version (its first 15 digits). */
export function versionWall(version: string): number {
  return Number(version.slice(0, 15))
}
