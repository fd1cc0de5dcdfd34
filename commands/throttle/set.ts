import {Args} from '@oclif/core'
import {EtcdCommand} from '../../src/cli/baseCommand.js'
import {UserError} from '../../src/errors/errors.js'
import {setThrottle} from '../../src/executor/controlService.js'
import {type Control} from '../../src/model/control.js'
import {parseRate} from '../../src/model/units.js'

export default class ThrottleSet extends EtcdCommand {
  static override summary = "Change the running executor's global copy rate (within a second)."
  static override examples = ['<%= config.bin %> throttle set 50MiB/s', '<%= config.bin %> throttle set unset']
  static override args = {rate: Args.string({description: 'bytes per second, e.g. 50MiB/s; `unset` returns to apply --throttle', required: true})}

  async run(): Promise<{control: Control; changed: boolean; message: string}> {
    const {args, flags} = await this.parse(ThrottleSet)
    let rate: number | null = null
    if (args.rate !== 'unset') {
      try {
        rate = parseRate(args.rate)
      } catch (err) {
        throw new UserError('BAD_INPUT', (err as Error).message, 'e.g. shardctl throttle set 50MiB/s')
      }
    }
    const result = await setThrottle(await this.services(flags), rate)
    this.log(result.message)
    return result
  }
}
