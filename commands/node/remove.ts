import {Args} from '@oclif/core'
import {EtcdCommand} from '../../src/cli/baseCommand.js'
import {removeNode} from '../../src/cluster/nodeService.js'

export default class NodeRemove extends EtcdCommand {
  static override summary = 'Remove a node record; only an empty node (no replicas) can be removed.'
  static override examples = ['<%= config.bin %> node remove n4']
  static override args = {id: Args.string({description: 'node id', required: true})}

  async run(): Promise<{id: string; changed: boolean; message: string}> {
    const {args, flags} = await this.parse(NodeRemove)
    const result = await removeNode(await this.services(flags), args.id)
    this.log(result.message)
    return result
  }
}
