import {EtcdCommand} from '../../src/cli/baseCommand.js'
import {renderTable} from '../../src/cli/table.js'
import {type ClusterStatus, clusterStatus} from '../../src/cluster/clusterStatus.js'
import {formatBytes} from '../../src/model/units.js'

export default class ClusterStatusCommand extends EtcdCommand {
  static override summary = 'Show the cluster: nodes, liveness, replicas, load, shards and executor.'
  static override examples = ['<%= config.bin %> cluster status', '<%= config.bin %> cluster status --cluster staging --json']

  async run(): Promise<ClusterStatus> {
    const {flags} = await this.parse(ClusterStatusCommand)
    const status = await clusterStatus(await this.services(flags))
    const ex = status.executor ? `running, held by ${status.executor.holder}` : 'idle'
    this.log(`Cluster ${status.cluster} at ${status.endpoints.join(',')} (revision ${status.revision})`)
    this.log(`rf ${status.meta.rf} · ${status.shards} shards (${status.shardStates.moving} moving) · nodes ${status.nodesUp} up, ${status.nodesDown} down · executor ${ex}${status.control.paused ? ' (paused)' : ''}`)
    this.log('')
    this.log(
      renderTable(
        ['NODE', 'ADDRESS', 'ZONE', 'STATE', 'UP', 'REPLICAS', 'READS/S', 'WRITES/S', 'BYTES'],
        status.nodes.map((n) => [n.id, n.address, n.zone, n.state, n.alive ? 'up' : 'down', n.replicas, n.load ? n.load.reads.toFixed(0) : '-', n.load ? n.load.writes.toFixed(0) : '-', n.load ? formatBytes(n.load.bytes) : '-']),
        [5, 6, 7, 8],
      ),
    )
    return status
  }
}
