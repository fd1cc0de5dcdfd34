import {EtcdCommand} from '../../src/cli/baseCommand.js'
import {renderTable} from '../../src/cli/table.js'
import {type ClusterStatus, clusterStatus, type MemberClock} from '../../src/cluster/clusterStatus.js'
import {formatBytes} from '../../src/model/units.js'

export default class ClusterStatusCommand extends EtcdCommand {
  static override summary = 'Show the cluster: nodes, liveness, replicas, load, shards and executor.'
  static override examples = ['<%= config.bin %> cluster status', '<%= config.bin %> cluster status --cluster staging --json']

  async run(): Promise<ClusterStatus> {
    const {flags} = await this.parse(ClusterStatusCommand)
    const status = await clusterStatus(await this.services(flags))
    const ex = status.executor ? `running, held by ${status.executor.holder}` : 'idle'
    this.log(`Cluster ${status.cluster} at ${status.endpoints.join(',')} (revision ${status.revision}${status.etcd ? `, etcd ${status.etcd.version}` : ''})`)
    this.log(`rf ${status.meta.rf} · ${status.shards} shards (${status.shardStates.moving} moving${status.shardStates.underReplicated > 0 ? `, ${status.shardStates.underReplicated} under-replicated` : ''}) · nodes ${status.nodesUp} up, ${status.nodesDown} down · executor ${ex}${status.control.paused ? ' (paused)' : ''}`)
    if (status.etcd?.warning) this.log(`WARNING: ${status.etcd.warning}`)
    this.log('')
    this.log(
      renderTable(
        ['NODE', 'ADDRESS', 'ZONE', 'STATE', 'UP', 'REPLICAS', 'READS/S', 'WRITES/S', 'BYTES', 'CLOCK'],
        status.nodes.map((n) => [n.id, n.address, n.zone, n.state, n.alive ? 'up' : 'down', n.replicas, n.load ? n.load.reads.toFixed(0) : '-', n.load ? n.load.writes.toFixed(0) : '-', n.load ? formatBytes(n.load.bytes) : '-', formatClock(n.clock)]),
        [5, 6, 7, 8],
      ),
    )
    if (status.routers.length > 0) {
      this.log('')
      this.log(renderTable(['ROUTER', 'ADDRESS', 'CLOCK'], status.routers.map((r) => [r.id, r.address, formatClock(r.clock)])))
    }
    return status
  }
}

/** formatClock shows a member's offset from its peers, flagged when beyond the cluster's bound (it then refuses writes). */
function formatClock(c: MemberClock | null): string {
  if (!c || c.offsetMs === null) return '-'
  const ms = `${c.offsetMs > 0 ? '+' : ''}${c.offsetMs}ms`
  return c.ok ? ms : `${ms} OUT OF BOUNDS`
}
