import {BaseCommand} from '../../src/cli/baseCommand.js'
import {planJsonSchema} from '../../src/plans/jsonSchemas.js'

export default class PlanSchemaCommand extends BaseCommand {
  static override summary = 'Print the JSON Schema of plan files.'
  static override examples = ['<%= config.bin %> plan schema > plan.schema.json']
  static override enableJsonFlag = false

  async run(): Promise<void> {
    // Parsed although the command takes nothing: parsing is what refuses an unknown flag or
    // argument (oclif checks `strict` only in this.parse), with exit 2 like every command.
    await this.parse(PlanSchemaCommand)
    this.log(JSON.stringify(planJsonSchema(), null, 2))
  }
}
