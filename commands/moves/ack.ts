import {Args} from '@oclif/core'
import {EtcdCommand} from '../../src/cli/baseCommand.js'
import {acknowledgeWarnings} from '../../src/executor/moveStore.js'

export default class MovesAck extends EtcdCommand {
  static override summary = 'Acknowledge a move\'s warnings of possible data loss (and those waiting for a check), once you have checked the keys they name.'
  static override description =
    'A redis master a move used that restarted without appendonly while the move ran may have lost acknowledged keys: the move carries a warning naming the master and the slots (`moves show`), `cluster status` lists it as trouble, and the autopilot plans no move onto or off that master. On kv, a move that went on without its source abandoned with `moves abandon-source --accept-data-loss`, or whose destination restarted without its copy after the source dropped its own, carries such a warning too (`apply` exits 23 for it, `cluster status` lists it). A warning that reports no loss but waits for a check is acknowledged too: a redis master\'s restart window nobody could judge, and a redis slot held open because both masters hold some of its keys and which copies are the newer cannot be told (acknowledging it lets `apply --resume` finish the slot with the source\'s copies, REPLACE: only once you know they are the newer; to keep the target\'s, DEL them on the source instead); `top` lists those as not a loss. Check those keys against your source of truth first; then this marks every such warning of the move acknowledged (with the time): `cluster status` and `top` stop listing them and the autopilot plans for that master again. `moves show` still prints them. A move with none left to acknowledge changes nothing (exit 0); an unknown move is refused (exit 1), changing nothing.'
  static override examples = ['<%= config.bin %> moves ack default-20261129-0003']
  static override args = {id: Args.string({description: 'move id', required: true})}

  async run(): Promise<{acknowledged: number; message: string}> {
    const {args, flags} = await this.parse(MovesAck)
    const result = await acknowledgeWarnings(await this.services(flags), args.id)
    this.log(result.message)
    return result
  }
}
