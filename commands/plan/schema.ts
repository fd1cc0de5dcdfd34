import {BaseCommand} from '../../src/cli/baseCommand.js'
import {planJsonSchema} from '../../src/plans/jsonSchemas.js'

export default class PlanSchemaCommand extends BaseCommand {
  static override summary = 'Print the JSON Schema of plan files.'
  static override examples = ['<%= config.bin %> plan schema > plan.schema.json']
  static override enableJsonFlag = false

  async run(): Promise<void> {
    this.log(JSON.stringify(planJsonSchema(), null, 2))
  }
}
