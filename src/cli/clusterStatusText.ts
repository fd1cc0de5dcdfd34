import {type ClusterStatus, type MemberClock, type NodeStatus} from '../cluster/clusterStatus.js'
import {STALE_MARK} from '../cluster/loadStaleness.js'
import {lossWayOut} from '../model/move.js'
import {effectiveWriteQuorum, fallbackVoters, floorLimitsText, floorQuorums, type WriteFloor} from '../model/writeFloor.js'
import {unreadableFloorHint} from '../model/writeFloorAdoption.js'
import {formatBytes} from '../model/units.js'
import {renderTable} from './table.js'

/** STALE_NOTE, printed once under the table, says what STALE_MARK after a node's load figures means. */
export const STALE_NOTE = `${STALE_MARK} load published before the shard map's latest change, over another number of replicas than REPLICAS (--json: load.replicas); the node publishes again once it sees the change`

/**
 * nodeStatusTable is `cluster status`'s table of nodes, and the note on stale load under it
 * when a node's load is (load.stale, as in `node show`: right after a drain or a move the node
 * may still sum replicas it no longer holds, beside a REPLICAS that no longer counts them).
 * The note is printed once whatever the number of stale nodes. Pure.
 */
export function nodeStatusTable(nodes: readonly NodeStatus[]): string[] {
  const figure = (n: NodeStatus, text: (load: NonNullable<NodeStatus['load']>) => string) => (n.load ? `${text(n.load)}${n.load.stale ? STALE_MARK : ''}` : '-')
  const table = renderTable(
    ['NODE', 'ADDRESS', 'ZONE', 'STATE', 'UP', 'REPLICAS', 'READS/S', 'WRITES/S', 'BYTES', 'CLOCK'],
    nodes.map((n) => [n.id, n.address, n.zone, n.state, n.alive ? 'up' : 'down', n.replicas, figure(n, (l) => l.reads.toFixed(0)), figure(n, (l) => l.writes.toFixed(0)), figure(n, (l) => formatBytes(l.bytes)), formatClock(n.clock)]),
    [5, 6, 7, 8],
  )
  return nodes.some((n) => n.load?.stale) ? [table, STALE_NOTE] : [table]
}

/** formatClock shows a member's offset from its peers, flagged when beyond the cluster's bound (it then refuses writes). */
export function formatClock(c: MemberClock | null): string {
  if (!c || c.offsetMs === null) return '-'
  const ms = `${c.offsetMs > 0 ? '+' : ''}${c.offsetMs}ms`
  return c.ok ? ms : `${ms} OUT OF BOUNDS`
}

/**
 * writeFloorLine says what the cluster's write floor (src/model/writeFloor.ts) lets a move
 * whose source is down do at `rf`: with w = 1 it waits for the source (heals of a dead node
 * included), which an operator otherwise sees only as moves that keep aborting. Pure.
 */
export function writeFloorLine(floor: WriteFloor | null, rf: number, unreadable?: {key: string}): string {
  const waits = 'a move whose source is down waits for it (heals of a dead node included; docs/moves.md "The write floor")'
  if (unreadable) return `write floor: unreadable (the key exists but does not parse): counts as w = 1, so ${waits}; ${unreadableFloorHint(unreadable.key)}`
  if (!floor) return `write floor: unknown (the cluster predates it): counts as w = 1, so ${waits}; if no router of this cluster ever ran with a smaller --w than N, \`shardctl cluster write-floor adopt --lowest-w N|majority\` records it`
  const limits = floorLimitsText(floor)
  if (!limits) return 'write floor: no router has run yet'
  const w = effectiveWriteQuorum(rf, floorQuorums(floor))
  const by = floor.by ? ` (last lowered by router ${floor.by} at ${floor.updatedAt})` : ''
  const adopted = floor.adopted ? ` (adopted at ${floor.adopted.at} from the operator's --lowest-w ${floor.adopted.lowestW})` : ''
  return `write floor: ${limits}${adopted}${by}: w = ${w} at rf ${rf}, so ${w <= 1 ? waits : 'a move whose source is down may copy from the other voters when no write quorum fits outside them'}`
}

/**
 * adoptionEffect (pure) says what adopting `floor` will allow, for the operator to confirm:
 * the voter counts whose moves with a down source may then copy from the other voters.
 */
export function adoptionEffect(floor: WriteFloor, rf: number): string {
  const limits = floorLimitsText(floor)
  const v = fallbackVoters(floor)
  if (v === undefined) return `write floor ${limits}: w = 1 at every shard size, so moves with a down source still wait for it (adopting changes nothing they do)`
  const atRf = effectiveWriteQuorum(rf, floorQuorums(floor))
  return `write floor ${limits}: moves with a down source may then copy from, and verify against, the other voters of shards with >= ${v} voters (w = ${atRf} at rf ${rf}); a write acknowledged with a smaller quorum than that by a router that has stopped could be lost`
}

/** kvWaitingLines are `cluster status`'s lines for moves that wait for a node that is down (none: no lines), each with the way out the executor named. */
export function kvWaitingLines(waiting: ClusterStatus['waitingMoves']): string[] {
  if (waiting.length === 0) return []
  return ['Moves waiting for a node:', ...waiting.map((w) => `  move ${w.move} (shard ${w.shard}, ${w.phase}) since ${w.since}: ${w.text}`)]
}

/**
 * kvLossLines is `cluster status`'s trouble section on kv: one line per move warning of possible
 * data loss no operator acknowledged yet, with its way out; nothing when there is none.
 */
export function kvLossLines(warnings: ClusterStatus['lossWarnings']): string[] {
  if (warnings.length === 0) return []
  return [
    'Data loss warnings (acknowledged writes may be lost):',
    ...warnings.map((w) => `  move ${w.move} (shard ${w.shard}, ${w.phase}) at ${w.at}: ${w.text}; ${lossWayOut(w.move)}`),
  ]
}
