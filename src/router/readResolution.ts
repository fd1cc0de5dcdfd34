import {compareRecords} from '../node/lwwMerge.js'
import {type NodeRecord} from '../node/protocol.js'

/** ReplicaAnswer is what one replica holds for the key read: a record (value or tombstone) or nothing. */
export interface ReplicaAnswer {
  node: string
  record: NodeRecord | undefined
}

/**
 * ReadResolution is the outcome of a quorum read: the newest record among the answers
 * (undefined when no replica holds the key) and the replicas that answered with something
 * older or nothing at all while another had a record: the read-repair targets.
 */
export interface ReadResolution {
  newest: NodeRecord | undefined
  stale: string[]
}

/**
 * resolveRead picks the newest record by the nodes' own LWW order (compareRecords: larger
 * HLC version, then tombstone over value), so the router returns exactly what every
 * replica converges to once repaired. Replicas already holding a record equal to the
 * newest are not stale; a replica holding a tombstone is as current as one with the
 * same-version tombstone.
 */
export function resolveRead(answers: readonly ReplicaAnswer[]): ReadResolution {
  let newest: NodeRecord | undefined
  for (const a of answers) {
    if (a.record && (newest === undefined || compareRecords(a.record, newest) > 0)) newest = a.record
  }
  if (newest === undefined) return {newest: undefined, stale: []}
  const stale = answers.filter((a) => a.record === undefined || compareRecords(a.record, newest) < 0).map((a) => a.node)
  return {newest, stale}
}
