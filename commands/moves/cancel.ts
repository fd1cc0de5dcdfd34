import {Args} from '@oclif/core'
import {EtcdCommand} from '../../src/cli/baseCommand.js'
import {requestCancel} from '../../src/executor/moveStore.js'

export default class MovesCancel extends EtcdCommand {
  static override summary = 'Cancel a move: it aborts cleanly back to its old replicas if it has not cut over.'
  static override description = 'After cutover a move always finishes: cancelling it then, or while it is being rolled back, is refused (exit 1) and changes nothing; roll it back instead. A cancel that is accepted is always honoured: the move ends `aborted` on its old replicas.'
  static override examples = ['<%= config.bin %> moves cancel default-20261129-0003']
  static override args = {id: Args.string({description: 'move id', required: true})}

  async run(): Promise<{changed: boolean; message: string}> {
    const {args, flags} = await this.parse(MovesCancel)
    const result = await requestCancel(await this.services(flags), args.id)
    this.log(result.message)
    return result
  }
}
