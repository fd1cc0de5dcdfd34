import {Args, Flags} from '@oclif/core'
import {EtcdCommand} from '../../src/cli/baseCommand.js'
import {requestSourceAbandon, type SourceAbandonResult} from '../../src/executor/sourceAbandon.js'

export default class MovesAbandonSource extends EtcdCommand {
  static override summary = "End a cut-over move's wait for a source that is gone for good, losing what only the source's copy holds."
  static override description =
    "For a move past cutover whose destination restarted since it was verified (an empty or older data dir) and that waits for its source to refill it: at rf 1, or when the cluster's write floor says some router ran with w = 1, no other copy is enough, so `apply --resume` waits for the source for ever, no rollback or cancel is accepted in `cleanup`, and `node remove` refuses the source. With --accept-data-loss the move is marked: while the source holds no lease (alive/<id>), the executor refills the destination from every staying voter (none at rf 1; one that is down is waited for unless the write floor makes the others enough, as it may hold writes acknowledged with the source), accepts it as it is, and finishes the move; every record only the source's copy held is lost. The move records it (`sourceAbandoned`, its reason, and a warning of possible data loss: `moves show` prints it, `apply` exits 23 for it, `cluster status` lists it until `moves ack`) and the executor logs it; the source's copy stays on its disk, and `node remove` then accepts the node. A source that is up is never skipped: refused while it holds its lease (exit 1), checked again when the executor acts, and read after all if it comes back before its copy is dropped (which withdraws the mark). A rollback requested or in flight (it waits for the down source, keeping the destination's copy) is withdrawn by the mark: the move turns forward again and finishes on the destination. Refused without --accept-data-loss (exit 2), before cutover (exit 1: cancel instead), and on a redis cluster (exit 1); nothing changes when refused."
  static override examples = ['<%= config.bin %> moves abandon-source default-20261129-0003 --accept-data-loss']
  static override args = {id: Args.string({description: 'move id', required: true})}
  static override flags = {
    'accept-data-loss': Flags.boolean({description: "required: accept that records only the source's copy holds are lost", default: false}),
  }

  async run(): Promise<SourceAbandonResult> {
    const {args, flags} = await this.parse(MovesAbandonSource)
    const result = await requestSourceAbandon(await this.services(flags), args.id, {acceptDataLoss: flags['accept-data-loss']})
    this.log(result.message)
    return result
  }
}
