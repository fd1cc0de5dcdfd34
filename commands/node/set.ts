import {Args, Flags} from '@oclif/core'
import {EtcdCommand} from '../../src/cli/baseCommand.js'
import {capacityFlag} from '../../src/cli/flags.js'
import {type NodeChange, setNode} from '../../src/cluster/nodeService.js'
import {parseNodeFields} from '../../src/cluster/nodeSpec.js'

export default class NodeSet extends EtcdCommand {
  static override summary = "Change a node's address, zone or capacity."
  static override examples = ['<%= config.bin %> node set n1 --capacity bytes=200GiB', '<%= config.bin %> node set n2 --zone b --json']
  static override args = {id: Args.string({description: 'node id', required: true})}
  static override flags = {
    address: Flags.string({description: 'new host:port'}),
    zone: Flags.string({description: 'new failure zone'}),
    capacity: capacityFlag({description: 'capacities to set, e.g. reads=5000,bytes=100GiB (others stay)'}),
  }

  async run(): Promise<NodeChange> {
    const {args, flags} = await this.parse(NodeSet)
    // Validate address and zone with the same rules as `node add`.
    const fields = parseNodeFields({id: args.id, address: flags.address, zone: flags.zone})
    const result = await setNode(await this.services(flags), args.id, {
      address: fields.address,
      zone: fields.zone,
      capacity: flags.capacity,
    })
    this.log(result.message)
    return result
  }
}
