import {EtcdCommand} from '../../src/cli/baseCommand.js'
import {setAutopilotPaused} from '../../src/autopilot/autopilotService.js'
import {type AutopilotControl} from '../../src/autopilot/autopilotState.js'

export default class AutopilotPause extends EtcdCommand {
  static override summary = 'Pause the autopilot: it keeps watching but starts nothing.'
  static override description = 'A running autopilot sees the switch at its next check. Moves already running go on; `moves pause` pauses those too.'
  static override examples = ['<%= config.bin %> autopilot pause']

  async run(): Promise<{control: AutopilotControl; changed: boolean; message: string}> {
    const {flags} = await this.parse(AutopilotPause)
    const result = await setAutopilotPaused(await this.services(flags), true)
    this.log(result.message)
    return result
  }
}
