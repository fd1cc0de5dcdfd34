import {Args} from '@oclif/core'
import {EtcdCommand} from '../../src/cli/baseCommand.js'
import {describeCopyProgress} from '../../src/executor/copyProgressText.js'
import {type MoveView, showMove} from '../../src/executor/moveViews.js'
import {sourceAbandonText} from '../../src/executor/sourceAbandonText.js'
import {keptCopyRepairText} from '../../src/executor/keptCopyRepairText.js'
import {votersAbandonText} from '../../src/executor/votersAbandonText.js'
import {isTerminal} from '../../src/model/move.js'

export default class MovesShow extends EtcdCommand {
  static override summary = 'Show one move: phase, epochs, progress and reason.'
  static override examples = ['<%= config.bin %> moves show default-20261129-0003 --json']
  static override args = {id: Args.string({description: 'move id', required: true})}

  async run(): Promise<MoveView> {
    const {args, flags} = await this.parse(MovesShow)
    const m = await showMove(await this.services(flags), args.id)
    this.log(`Move ${m.id} (plan ${m.plan}): shard ${m.shard} ${m.from} → ${m.to}`)
    this.log(`phase ${m.phase}; epoch ${m.baseEpoch} → ${m.epoch}${m.cancelRequested ? '; cancel requested' : ''}${m.cutoverAt ? `; cut over at ${m.cutoverAt}` : ''}`)
    this.log(describeCopyProgress(m.progress, m.etaSeconds))
    // The executor writes no progress while paused: the rate above is the last one written.
    if (m.paused) this.log(`paused: the executor copies nothing until \`shardctl moves resume\` (the rate above is from ${m.updatedAt})`)
    if (m.reason) this.log(`reason: ${m.reason}`)
    const abandoned = sourceAbandonText(m)
    if (abandoned) this.log(abandoned)
    // The repair of the voters from the destination's copy an abort or a rollback kept outside the map (keptCopyRepair in --json).
    const repair = keptCopyRepairText(m)
    if (repair) this.log(repair)
    // What the executor waits for (a node that is down) and the command that ends it, as it last recorded it.
    if (m.waitingFor && !isTerminal(m.phase)) this.log(`waiting since ${m.waitingFor.since}: ${m.waitingFor.text}`)
    // The `moves abandon-voters` mark, the voters it names and their last data dirs (abandonVotersDirs in --json).
    const voters = votersAbandonText(m)
    if (voters) this.log(voters)
    for (const w of m.warnings ?? []) this.log(`warning (${w.at}${w.acknowledgedAt ? `, acknowledged ${w.acknowledgedAt}` : ''}): ${w.text}${w.mayHaveLostData && !w.acknowledgedAt ? ` (once checked: \`shardctl moves ack ${m.id}\`)` : ''}`)
    this.log(`updated ${m.updatedAt}`)
    return m
  }
}
