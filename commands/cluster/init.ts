import {Flags} from '@oclif/core'
import {EtcdCommand} from '../../src/cli/baseCommand.js'
import {renderTable} from '../../src/cli/table.js'
import {initCluster, type InitClusterResult} from '../../src/cluster/initCluster.js'
import {parseNodeSpecs} from '../../src/cluster/nodeSpec.js'

export default class ClusterInit extends EtcdCommand {
  static override summary = 'Create a cluster: meta, nodes and the initial shard map.'
  static override description = 'Cuts the hash space into --shards contiguous ranges and places --rf replicas of each with a consistent-hash ring (never two on one node, zones spread). Refuses to overwrite an existing cluster unless --force.'
  static override examples = [
    '<%= config.bin %> cluster init --shards 64 --rf 3 --nodes n1=127.0.0.1:7001@a,n2=127.0.0.1:7002@b,n3=127.0.0.1:7003@c',
    '<%= config.bin %> cluster init --cluster staging --shards 16 --rf 1 --nodes n1=127.0.0.1:7001 --force --json',
  ]
  static override flags = {
    shards: Flags.integer({description: 'number of shards', required: true, min: 1, max: 2 ** 20}),
    rf: Flags.integer({description: 'replication factor', default: 3, min: 1, max: 7}),
    nodes: Flags.string({description: 'nodes as id=host:port[@zone], comma-separated', required: true}),
    force: Flags.boolean({description: 'delete an existing cluster of this name first'}),
  }

  async run(): Promise<InitClusterResult> {
    const {flags} = await this.parse(ClusterInit)
    const nodes = parseNodeSpecs(flags.nodes)
    const ctx = await this.services(flags)
    const result = await initCluster(ctx, {shards: flags.shards, rf: flags.rf, nodes, force: flags.force})
    this.log(`${result.replaced ? 'Re-created' : 'Created'} cluster "${result.cluster}": ${result.shards} shards, rf ${result.rf}, ${result.nodes.length} nodes`)
    this.log(renderTable(['NODE', 'ADDRESS', 'ZONE', 'REPLICAS'], result.nodes.map((n) => [n.id, n.address, n.zone, n.replicas]), [3]))
    return result
  }
}
