import {EtcdCommand} from '../../src/cli/baseCommand.js'
import {setPaused} from '../../src/executor/controlService.js'
import {type Control} from '../../src/model/control.js'

export default class MovesResume extends EtcdCommand {
  static override summary = 'Resume paused moves.'
  static override description = 'Takes effect on a running executor within a second, through the control key in etcd.'
  static override examples = ['<%= config.bin %> moves resume']

  async run(): Promise<{control: Control; changed: boolean; message: string}> {
    const {flags} = await this.parse(MovesResume)
    const result = await setPaused(await this.services(flags), false)
    this.log(result.message)
    return result
  }
}
