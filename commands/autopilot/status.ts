import {Flags} from '@oclif/core'
import {EtcdCommand} from '../../src/cli/baseCommand.js'
import {type AutopilotStatus, autopilotStatus, renderAutopilotStatus} from '../../src/autopilot/autopilotService.js'

export default class AutopilotStatusCommand extends EtcdCommand {
  static override summary = 'Show the autopilot: leader, pause switch, next check, last decisions with reasons.'
  static override examples = ['<%= config.bin %> autopilot status', '<%= config.bin %> autopilot status --json | jq .state.decisions']
  static override flags = {last: Flags.integer({description: 'how many decisions to show', default: 10, min: 1, max: 20})}

  async run(): Promise<AutopilotStatus> {
    const {flags} = await this.parse(AutopilotStatusCommand)
    const status = await autopilotStatus(await this.services(flags))
    for (const line of renderAutopilotStatus(status, flags.last)) this.log(line)
    return status
  }
}
