import {BaseCommand} from '../../src/cli/baseCommand.js'
import {snapshotJsonSchema} from '../../src/plans/jsonSchemas.js'

export default class SnapshotSchemaCommand extends BaseCommand {
  static override summary = 'Print the JSON Schema of snapshot files (`snapshot export`, `plan --snapshot`).'
  static override examples = ['<%= config.bin %> snapshot schema > snapshot.schema.json']
  static override enableJsonFlag = false

  async run(): Promise<void> {
    this.log(JSON.stringify(snapshotJsonSchema(), null, 2))
  }
}
