import {Args} from '@oclif/core'
import {EtcdCommand} from '../../src/cli/baseCommand.js'
import {type NodeChange, setNodeState} from '../../src/cluster/nodeService.js'

export default class NodeUncordon extends EtcdCommand {
  static override summary = 'Let a cordoned or draining node receive replicas again.'
  static override examples = ['<%= config.bin %> node uncordon n3']
  static override args = {id: Args.string({description: 'node id', required: true})}

  async run(): Promise<NodeChange> {
    const {args, flags} = await this.parse(NodeUncordon)
    const result = await setNodeState(await this.services(flags), args.id, 'active')
    this.log(result.message)
    return result
  }
}
