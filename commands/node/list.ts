import {EtcdCommand} from '../../src/cli/baseCommand.js'
import {renderTable} from '../../src/cli/table.js'
import {listNodeViews, type NodeView} from '../../src/cluster/nodeService.js'
import {formatCapacity} from '../../src/cli/formatCapacity.js'

export default class NodeList extends EtcdCommand {
  static override summary = 'List nodes with state, liveness, capacity and replica count.'
  static override examples = ['<%= config.bin %> node list', '<%= config.bin %> node list --json']

  async run(): Promise<{nodes: NodeView[]}> {
    const {flags} = await this.parse(NodeList)
    const nodes = await listNodeViews(await this.services(flags))
    this.log(renderTable(['NODE', 'ADDRESS', 'ZONE', 'STATE', 'UP', 'REPLICAS', 'CAPACITY'], nodes.map((n) => [n.id, n.address, n.zone, n.state, n.alive ? 'up' : 'down', n.replicas, formatCapacity(n.capacity)]), [5]))
    return {nodes}
  }
}
