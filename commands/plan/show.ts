import {Args, Flags} from '@oclif/core'
import {BaseCommand} from '../../src/cli/baseCommand.js'
import {type Plan} from '../../src/model/plan.js'
import {readPlanFile} from '../../src/plans/planFiles.js'
import {renderPlanMarkdown} from '../../src/planner/render/planMarkdown.js'
import {renderPlanText} from '../../src/planner/render/planText.js'

export default class PlanShow extends BaseCommand {
  static override summary = 'Render a plan file: verdict, per-node utilisation bars, actions.'
  static override description = 'Refuses a malformed plan or one modified after it was computed (exit 2).'
  static override examples = ['<%= config.bin %> plan show plans/prod-20260101T000000000Z.json', '<%= config.bin %> plan show plan.json --format markdown --actions 100']
  static override args = {file: Args.string({description: 'the plan file', required: true})}
  static override flags = {
    format: Flags.string({description: 'output format', options: ['table', 'markdown'], default: 'table'}),
    nodes: Flags.integer({description: 'list at most this many nodes (the most changed)', default: 40, min: 1}),
    actions: Flags.integer({description: 'list at most this many actions', default: 20, min: 0}),
  }

  async run(): Promise<Plan> {
    const {args, flags} = await this.parse(PlanShow)
    const plan = readPlanFile(args.file)
    const limits = {nodes: flags.nodes, actions: flags.actions}
    this.log(flags.format === 'markdown' ? renderPlanMarkdown(plan, limits) : renderPlanText(plan, limits))
    return plan
  }
}
