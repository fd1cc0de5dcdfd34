import {Args, Flags} from '@oclif/core'
import {EtcdCommand} from '../../src/cli/baseCommand.js'
import {formatCapacity} from '../../src/cli/formatCapacity.js'
import {nodeLoadLine} from '../../src/cli/nodeLoadText.js'
import {NODE_SHOW_LIMIT, showNode} from '../../src/cluster/nodeService.js'

export default class NodeShow extends EtcdCommand {
  static override summary = 'Show one node and the shards it holds.'
  static override description = 'With --json, `load` is what the node last published (null while it publishes nothing), and `load.stale` is true when those figures predate the shard map\'s latest change for the node: they are over another number of replicas (`load.replicas`) than the map gives it now (`replicas`), as after a move it has not published since (it does once it sees the change). The check is by that count: the node publishes no map revision.'
  static override examples = ['<%= config.bin %> node show n1 --json']
  static override args = {id: Args.string({description: 'node id', required: true})}
  static override flags = {
    limit: Flags.integer({description: 'list at most this many of its shards (0: all; `shard list --node` streams them)', default: NODE_SHOW_LIMIT, min: 0}),
  }

  async run(): Promise<Awaited<ReturnType<typeof showNode>>> {
    const {args, flags} = await this.parse(NodeShow)
    const node = await showNode(await this.services(flags), args.id, flags.limit)
    this.log(`Node ${node.id} at ${node.address}, zone ${node.zone}, ${node.state}, ${node.alive ? 'up' : 'down'}`)
    this.log(`capacity: ${formatCapacity(node.capacity)}; created ${node.createdAt}`)
    this.log(nodeLoadLine(node.load, node.replicas))
    this.log(`${node.replicas} replicas: ${node.shards.map((s) => (s.role === 'voter' ? String(s.id) : `${s.id}(${s.role})`)).join(' ') || '-'}${node.moreShards > 0 ? ` … and ${node.moreShards} more (\`shardctl shard list --node ${node.id}\`)` : ''}`)
    return node
  }
}
