import {EtcdCommand} from '../../src/cli/baseCommand.js'
import {formatClock, kvLossLines, kvWaitingLines, nodeStatusTable, writeFloorLine} from '../../src/cli/clusterStatusText.js'
import {renderTable} from '../../src/cli/table.js'
import {type ClusterStatus, clusterStatus} from '../../src/cluster/clusterStatus.js'
import {redisTroubleLines} from '../../src/redis/redisTroubleText.js'

export default class ClusterStatusCommand extends EtcdCommand {
  static override summary = 'Show the cluster: nodes, liveness, replicas, load, shards and executor.'
  static override description = 'Each node\'s load is what it last published (with --json, `load`, null while it publishes nothing; `load.replicas` is how many replicas its figures are over). `load.stale` is true, and the table marks the figures with `*`, when they predate the shard map\'s latest change for the node: they are over another number of replicas than the map gives it now (`replicas`), as right after a drain or a move it has not published since (it does once it sees the change); the same check as `node show`. On a Redis Cluster (`--engine redis`) it also reads every live master\'s CLUSTER NODES view and, only when something needs the operator, adds a "Redis cluster trouble" section, one line each with its way out: slots left open (MIGRATING/IMPORTING, between which masters, and whether a side failed), masters failed (`fail`/`fail?`), failed over or gone, slots no live master serves (or two serve), shards etcd records on a master that does not serve their slots, moves warned that a master they used restarted without appendonly and may have lost keys, and warnings of moves that are not a loss but wait for a check (a slot held open, a restart nobody could judge; with --json `redis.checkWarnings`), each until `moves ack`. With --json the same is in `redis` (null on kv; `redis.trouble` tells whether any of it needs the operator: a slot the running executor is migrating does not). Exits 0 whenever it could read the cluster, trouble or not (as for nodes down on kv); scripts read `redis.trouble`. On kv it also says the cluster\'s write floor (with --json, `writeFloor`: the smallest --w any router has run with and whether one ran with a majority; null when the cluster predates it, which counts as w = 1; `cluster write-floor adopt` is the way out, which the line names; `writeFloorUnreadable` true when the key exists but does not parse, also counted as w = 1: the line says how to inspect and delete it before adopting): at w = 1 a move whose source is down, a heal of a dead node included, waits for the source. On kv, moves warned that acknowledged data may be lost (one that went on without a source abandoned with `moves abandon-source --accept-data-loss`, or whose destination restarted without its copy after the source dropped its own) are listed as trouble until `moves ack` (with --json, `lossWarnings`), and unfinished moves that wait for a node that is down are listed with what they wait for and the command that ends the wait (with --json, `waitingMoves`).'
  static override examples = ['<%= config.bin %> cluster status', '<%= config.bin %> cluster status --cluster staging --json']

  async run(): Promise<ClusterStatus> {
    const {flags} = await this.parse(ClusterStatusCommand)
    const ctx = await this.services(flags)
    const status = await clusterStatus(ctx)
    const ex = status.executor ? `running, held by ${status.executor.holder}` : 'idle'
    this.log(`Cluster ${status.cluster} at ${status.endpoints.join(',')} (revision ${status.revision}${status.etcd ? `, etcd ${status.etcd.version}` : ''})`)
    this.log(`rf ${status.meta.rf} · ${status.shards} shards (${status.shardStates.moving} moving${status.shardStates.underReplicated > 0 ? `, ${status.shardStates.underReplicated} under-replicated` : ''}) · nodes ${status.nodesUp} up, ${status.nodesDown} down · executor ${ex}${status.control.paused ? ' (paused)' : ''}`)
    if (status.etcd?.warning) this.log(`WARNING: ${status.etcd.warning}`)
    this.log('')
    for (const line of nodeStatusTable(status.nodes)) this.log(line)
    if (status.routers.length > 0) {
      this.log('')
      this.log(renderTable(['ROUTER', 'ADDRESS', 'CLOCK'], status.routers.map((r) => [r.id, r.address, formatClock(r.clock)])))
    }
    // Routers and their quorums are the kv data plane's (a Redis Cluster has none).
    if (!status.redis) {
      this.log('')
      this.log(writeFloorLine(status.writeFloor, status.meta.rf, status.writeFloorUnreadable ? {key: ctx.keys.writeFloor} : undefined))
    }
    const trouble = status.redis ? redisTroubleLines(status.redis) : [...kvWaitingLines(status.waitingMoves), ...kvLossLines(status.lossWarnings)]
    if (trouble.length > 0) {
      this.log('')
      for (const line of trouble) this.log(line)
    }
    return status
  }
}
