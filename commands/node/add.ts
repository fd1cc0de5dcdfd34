import {Args, Flags} from '@oclif/core'
import {EtcdCommand} from '../../src/cli/baseCommand.js'
import {capacityFlag} from '../../src/cli/flags.js'
import {addNode, type NodeChange} from '../../src/cluster/nodeService.js'
import {parseNodeFields} from '../../src/cluster/nodeSpec.js'

export default class NodeAdd extends EtcdCommand {
  static override summary = 'Register a storage node (it receives replicas from the next plan).'
  static override examples = ['<%= config.bin %> node add n4 --address 127.0.0.1:7004 --zone c --capacity reads=5000,writes=2000,bytes=100GiB']
  static override args = {id: Args.string({description: 'node id', required: true})}
  static override flags = {
    address: Flags.string({description: 'host:port the node serves on', required: true}),
    zone: Flags.string({description: 'failure zone', default: 'default'}),
    capacity: capacityFlag({description: 'per-resource capacity, e.g. reads=5000,writes=2000,bytes=100GiB'}),
  }

  async run(): Promise<NodeChange> {
    const {args, flags} = await this.parse(NodeAdd)
    const fields = parseNodeFields({id: args.id, address: flags.address, zone: flags.zone})
    const spec = {id: fields.id, address: fields.address!, zone: fields.zone!}
    const capacity = flags.capacity
    const result = await addNode(await this.services(flags), spec, capacity)
    this.log(result.message)
    return result
  }
}
