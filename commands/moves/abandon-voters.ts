import {Args, Flags} from '@oclif/core'
import {EtcdCommand} from '../../src/cli/baseCommand.js'
import {requestVotersAbandon, type VotersAbandonResult} from '../../src/executor/votersAbandon.js'

export default class MovesAbandonVoters extends EtcdCommand {
  static override summary = "End a refill's wait for staying voters that are gone for good, losing what only they held."
  static override description =
    "For a move in `cleanup` whose destination restarted on another data dir after its source's drop was sent, and whose refill waits for staying voters of the shard that are down: when the cluster's write floor says the voters up may miss an acknowledged write (a router ran with w = 1), a voter that is down may hold one the destination lost, so `apply --resume` waits for it; no rollback or cancel is accepted in `cleanup`, and the source is up, so `moves abandon-source` does not apply. With --accept-data-loss the move is marked: while those voters hold no lease (alive/<id>), the executor refills the destination from what is up (what remains of the source's copy and the voters up) and finishes the move, recording a warning of possible data loss naming them (`moves show` prints it, `apply` exits 23 for it, `cluster status` lists it until `moves ack`). A voter that registers first is read instead. The same ends the wait of a refill without a source abandoned with `moves abandon-source` (and down) for staying voters that are down, in any phase after cutover, whatever the drop and the destination's dir: the loss warning then names the source and them. The mark is honoured only for the voters down when it was set (one down later is waited for); if every one of them is back up on its data dir first, or one came back on its data dir and is down again (its claim names that dir under a new process), the executor withdraws the mark and reads them or waits for them; `moves show` prints the mark with its voters and the data dirs they last served. Refused without --accept-data-loss (exit 2); refused (exit 1), unless the source is abandoned and down, for a move not in `cleanup`, whose source's drop is not recorded yet (`sourceDropSentAt` null: the refill reads the source's whole copy), whose destination did not restart or is back on the data dir it was verified on, with every staying voter up, or on a redis cluster; nothing changes when refused."
  static override examples = ['<%= config.bin %> moves abandon-voters default-20261129-0003 --accept-data-loss']
  static override args = {id: Args.string({description: 'move id', required: true})}
  static override flags = {
    'accept-data-loss': Flags.boolean({description: 'required: accept that acknowledged records only the down voters held are lost', default: false}),
  }

  async run(): Promise<VotersAbandonResult> {
    const {args, flags} = await this.parse(MovesAbandonVoters)
    const result = await requestVotersAbandon(await this.services(flags), args.id, {acceptDataLoss: flags['accept-data-loss']})
    this.log(result.message)
    return result
  }
}
