import {EtcdCommand} from '../../src/cli/baseCommand.js'
import {renderTable} from '../../src/cli/table.js'
import {type ClusterStatus, clusterStatus, type MemberClock} from '../../src/cluster/clusterStatus.js'
import {formatBytes} from '../../src/model/units.js'
import {redisTroubleLines} from '../../src/redis/redisTroubleText.js'

export default class ClusterStatusCommand extends EtcdCommand {
  static override summary = 'Show the cluster: nodes, liveness, replicas, load, shards and executor.'
  static override description = 'On a Redis Cluster (`--engine redis`) it also reads every live master\'s CLUSTER NODES view and, only when something needs the operator, adds a "Redis cluster trouble" section, one line each with its way out: slots left open (MIGRATING/IMPORTING, between which masters, and whether a side failed), masters failed (`fail`/`fail?`), failed over or gone, slots no live master serves (or two serve), and shards etcd records on a master that does not serve their slots. With --json the same is in `redis` (null on kv; `redis.trouble` tells whether any of it needs the operator: a slot the running executor is migrating does not). Exits 0 whenever it could read the cluster, trouble or not (as for nodes down on kv); scripts read `redis.trouble`.'
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
    const trouble = status.redis ? redisTroubleLines(status.redis) : []
    if (trouble.length > 0) {
      this.log('')
      for (const line of trouble) this.log(line)
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
