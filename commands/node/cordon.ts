import {Args} from '@oclif/core'
import {EtcdCommand} from '../../src/cli/baseCommand.js'
import {type NodeChange, setNodeState} from '../../src/cluster/nodeService.js'

export default class NodeCordon extends EtcdCommand {
  static override summary = 'Stop placing new replicas on a node (it keeps the ones it has).'
  static override examples = ['<%= config.bin %> node cordon n3']
  static override args = {id: Args.string({description: 'node id', required: true})}

  async run(): Promise<NodeChange> {
    const {args, flags} = await this.parse(NodeCordon)
    const result = await setNodeState(await this.services(flags), args.id, 'cordoned')
    this.log(result.message)
    return result
  }
}
