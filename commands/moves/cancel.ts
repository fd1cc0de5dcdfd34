import {Args, Flags} from '@oclif/core'
import {EtcdCommand} from '../../src/cli/baseCommand.js'
import {UserError} from '../../src/errors/errors.js'
import {markedMoveNext} from '../../src/executor/markedMoveRunner.js'
import {requestCancel} from '../../src/executor/moveStore.js'
import {type PlanCancel, planCancelText, requestPlanCancel} from '../../src/executor/planCancel.js'

export default class MovesCancel extends EtcdCommand {
  static override summary = 'Cancel a move, or every move of a plan: each aborts cleanly back to its old replicas if it has not cut over.'
  static override description =
    'After cutover a move always finishes: cancelling it then, or while it is being rolled back, is refused (exit 1) and changes nothing; roll it back instead. A cancel that is accepted is always honoured: the move ends `aborted` on its old replicas. With `--plan` every move of the plan that has not cut over is marked (the cut-over ones finish), and so is every move of another plan that this plan\'s apply runs as its own (one it makes too, still under way, that its apply took over: counted and named as `adopted`); their plans\' other moves are left alone. This abandons a plan, e.g. one whose apply died. A running executor honours the marks of the moves it runs within a second: an apply of another plan runs only its own (and those it took over), and leaves the rest to `shardctl apply --resume` once it ends, which the output says, with how many; with none running, `shardctl apply --resume` carries them out.'
  static override examples = ['<%= config.bin %> moves cancel default-20261129-0003', '<%= config.bin %> moves cancel --plan default-20261129']
  static override args = {id: Args.string({description: 'move id (not with --plan)', required: false})}
  static override flags = {
    plan: Flags.string({description: 'cancel every move of this plan id that has not cut over, and the other plans\' moves its apply took over (not with a move ID)'}),
  }

  async run(): Promise<{changed: boolean; message: string} | PlanCancel> {
    const {args, flags} = await this.parse(MovesCancel)
    // oclif's `exclusive` only relates flags, so the argument/--plan choice is checked here.
    if ((args.id === undefined) === (flags.plan === undefined)) {
      throw new UserError('BAD_INPUT', args.id === undefined ? 'name a move ID or --plan; nothing was cancelled' : `both move ${args.id} and --plan ${flags.plan} were given; nothing was cancelled`, 'cancel one move with `shardctl moves cancel ID`, or a whole plan with `shardctl moves cancel --plan PLAN`')
    }
    const ctx = await this.services(flags)
    if (flags.plan !== undefined) {
      const result = await requestPlanCancel(ctx, flags.plan)
      for (const line of planCancelText(result)) this.log(line)
      return result
    }
    const result = await requestCancel(ctx, args.id!)
    // Who carries it out: said only when this call marked it (a repeat or a refusal says what is already so).
    if (result.changed) result.message = `${result.message}: ${await markedMoveNext(ctx, args.id!, 'the cancel')}`
    this.log(result.message)
    return result
  }
}
