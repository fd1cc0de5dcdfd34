import {Args} from '@oclif/core'
import {EtcdCommand} from '../../src/cli/baseCommand.js'
import {formatCapacity} from '../../src/cli/formatCapacity.js'
import {showNode} from '../../src/cluster/nodeService.js'

export default class NodeShow extends EtcdCommand {
  static override summary = 'Show one node and the shards it holds.'
  static override examples = ['<%= config.bin %> node show n1 --json']
  static override args = {id: Args.string({description: 'node id', required: true})}

  async run(): Promise<Awaited<ReturnType<typeof showNode>>> {
    const {args, flags} = await this.parse(NodeShow)
    const node = await showNode(await this.services(flags), args.id)
    this.log(`Node ${node.id} at ${node.address}, zone ${node.zone}, ${node.state}, ${node.alive ? 'up' : 'down'}`)
    this.log(`capacity: ${formatCapacity(node.capacity)}; created ${node.createdAt}`)
    this.log(`${node.replicas} replicas: ${node.shards.map((s) => (s.role === 'voter' ? String(s.id) : `${s.id}(${s.role})`)).join(' ') || '-'}`)
    return node
  }
}
