import {EtcdCommand} from '../../src/cli/baseCommand.js'
import {setAutopilotPaused} from '../../src/autopilot/autopilotService.js'
import {type AutopilotControl} from '../../src/autopilot/autopilotState.js'

export default class AutopilotResume extends EtcdCommand {
  static override summary = 'Let a paused autopilot act again.'
  static override examples = ['<%= config.bin %> autopilot resume']

  async run(): Promise<{control: AutopilotControl; changed: boolean; message: string}> {
    const {flags} = await this.parse(AutopilotResume)
    const result = await setAutopilotPaused(await this.services(flags), false)
    this.log(result.message)
    return result
  }
}
