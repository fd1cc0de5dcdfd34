import {STALE_MARK} from '../cluster/loadStaleness.js'
import {formatBytes} from '../model/units.js'
import {type LoadReport, type NodeLoad} from '../stats/loadReport.js'
import {renderTable} from './table.js'

/** STATS_STALE_NOTE, printed once under the node table when a node's load is stale, says what the mark means. */
export const STATS_STALE_NOTE = `${STALE_MARK} load published before the shard map's latest change, over another number of replicas than REPLICAS (--json: reportedReplicas); the node publishes again once it sees the change`

/**
 * renderLoadReport is `shardctl stats`' text: the nodes' table (a stale node's figures marked,
 * as `cluster status` marks them, with the note once under the table), then the shards'. Pure.
 */
export function renderLoadReport(r: LoadReport): string {
  const rate = (x: number) => x.toFixed(1)
  const figure = (n: NodeLoad, text: string) => (n.reporting ? `${text}${n.stale ? STALE_MARK : ''}` : '-')
  const nodes = renderTable(
    ['NODE', 'UP', 'REPLICAS', 'READS/S', 'WRITES/S', 'BYTES', 'KEYS', 'REPORTED'],
    r.nodes.map((n) => [n.node, n.alive ? 'up' : 'down', n.replicas, figure(n, rate(n.reads)), figure(n, rate(n.writes)), figure(n, formatBytes(n.bytes)), figure(n, String(n.keys)), n.at ?? '-']),
    [2, 3, 4, 5, 6],
  )
  const shards = renderTable(
    ['SHARD', 'EPOCH', 'REPLICAS', 'READS/S', 'WRITES/S', 'BYTES', 'KEYS', 'REPORTING'],
    r.shards.map((s) => [s.shard, s.epoch, s.replicas.join(' '), rate(s.reads), rate(s.writes), formatBytes(s.bytes), s.keys, `${s.reporting}/${s.replicas.length}`]),
    [0, 1, 3, 4, 5, 6],
  )
  const nodeLines = r.nodes.some((n) => n.stale) ? `${nodes}\n${STATS_STALE_NOTE}` : nodes
  return `Load of cluster ${r.cluster} at ${r.at}: ${rate(r.totals.reads)} reads/s, ${rate(r.totals.writes)} writes/s, ${formatBytes(r.totals.bytes)} in ${r.totals.keys} keys\n\n${nodeLines}\n\n${shards}`
}
