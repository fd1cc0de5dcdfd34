import {EtcdCommand} from '../../src/cli/baseCommand.js'
import {setPaused} from '../../src/executor/controlService.js'
import {type Control} from '../../src/model/control.js'

export default class MovesPause extends EtcdCommand {
  static override summary = 'Pause every move (copies stop between chunks; no new move starts).'
  static override description = 'Takes effect on a running executor within a second, through the control key in etcd.'
  static override examples = ['<%= config.bin %> moves pause']

  async run(): Promise<{control: Control; changed: boolean; message: string}> {
    const {flags} = await this.parse(MovesPause)
    const result = await setPaused(await this.services(flags), true)
    this.log(result.message)
    return result
  }
}
