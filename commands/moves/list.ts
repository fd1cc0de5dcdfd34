import {Flags} from '@oclif/core'
import {EtcdCommand} from '../../src/cli/baseCommand.js'
import {renderTable} from '../../src/cli/table.js'
import {unrecordedText, type Recording} from '../../src/executor/moveRecording.js'
import {listMoveViews, moveNote, type MoveView, type StoppedPlan, stoppedPlans, stoppedPlanText, unrecordedPlans} from '../../src/executor/moveViews.js'
import {formatBytes} from '../../src/model/units.js'

export default class MovesList extends EtcdCommand {
  static override summary = 'List moves with phase, progress, rate and ETA.'
  static override examples = ['<%= config.bin %> moves list', '<%= config.bin %> moves list --active --json']
  static override flags = {
    active: Flags.boolean({description: 'only moves that have not finished'}),
    plan: Flags.string({description: 'only moves of this plan id'}),
  }

  async run(): Promise<{moves: MoveView[]; unrecorded: Recording[]; stopped: StoppedPlan[]}> {
    const {flags} = await this.parse(MovesList)
    const ctx = await this.services(flags)
    const moves = await listMoveViews(ctx, {active: flags.active, plan: flags.plan})
    const unrecorded = await unrecordedPlans(ctx, flags.plan)
    const stopped = await stoppedPlans(ctx, moves, flags.plan)
    this.log(
      renderTable(
        ['MOVE', 'SHARD', 'FROM', 'TO', 'PHASE', 'COPIED', 'RATE', 'ETA', 'NOTE'],
        moves.map((m) => [m.id, m.shard, m.from, m.to, m.phase, formatBytes(m.progress.bytes), m.phase === 'copying' && !m.paused ? `${formatBytes(m.progress.dataRateBytesPerSec)}/s` : '-', m.etaSeconds === null ? '-' : `${m.etaSeconds}s`, moveNote(m)]),
        [1],
      ),
    )
    // A plan an apply was killed while recording: the rows above are not all of it.
    if (!this.jsonEnabled()) for (const r of unrecorded) process.stderr.write(`warning: ${unrecordedText(r)}\n`)
    // Unfinished moves nobody runs (their apply died): say how to continue or abandon them.
    if (!this.jsonEnabled()) for (const s of stopped) process.stderr.write(`warning: ${stoppedPlanText(s)}\n`)
    return {moves, unrecorded, stopped}
  }
}
