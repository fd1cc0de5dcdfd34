import {Args, Flags} from '@oclif/core'
import {EtcdCommand} from '../../src/cli/baseCommand.js'
import {removeNode} from '../../src/cluster/nodeService.js'

export default class NodeRemove extends EtcdCommand {
  static override summary = 'Remove a node record; only an empty node (no replicas) can be removed.'
  static override description =
    'A node that still holds replicas is refused (exit 1, nothing changed) with how to move them off (`node drain`). When what it still holds is the outgoing copy of moves that have cut over away from it, the refusal names them: they drop that copy as they finish (`apply --resume`); a node gone for good that such a move waits for (to refill a destination restarted since verification, at rf 1 or with a w = 1 write floor) is released by `moves abandon-source ID --accept-data-loss`, at the cost of what only its copy held. The destination of a move that aborts or rolls back is refused too until the move has repaired the voters from its copy (kept outside the map: at w = 1 it may be the only one of an acknowledged write) or dropped it; --accept-data-loss removes it anyway, and the move ends with a warning of possible data loss when its copy may have held a write no voter up holds.'
  static override examples = ['<%= config.bin %> node remove n4']
  static override args = {id: Args.string({description: 'node id', required: true})}
  static override flags = {
    'accept-data-loss': Flags.boolean({description: 'remove the destination of an aborting or rolling-back move whose copy is not yet repaired from or dropped: accept that acknowledged records only that copy held are lost', default: false}),
  }

  async run(): Promise<{id: string; changed: boolean; message: string}> {
    const {args, flags} = await this.parse(NodeRemove)
    const result = await removeNode(await this.services(flags), args.id, {acceptDataLoss: flags['accept-data-loss']})
    this.log(result.message)
    return result
  }
}
