import {Args} from '@oclif/core'
import {EtcdCommand} from '../../src/cli/baseCommand.js'
import {keysRateOrUnsetFlag} from '../../src/cli/flags.js'
import {UserError} from '../../src/errors/errors.js'
import {refuseKeysRateOnKv, setKeysThrottle, setThrottle} from '../../src/executor/controlService.js'
import {type Control} from '../../src/model/control.js'
import {parseRate} from '../../src/model/units.js'

export default class ThrottleSet extends EtcdCommand {
  static override summary = "Change the running executor's global copy rate, or a redis move's keys per second (within a second)."
  static override examples = ['<%= config.bin %> throttle set 50MiB/s', '<%= config.bin %> throttle set unset', '<%= config.bin %> throttle set --keys-per-sec 2000', '<%= config.bin %> throttle set --keys-per-sec unset']
  static override args = {rate: Args.string({description: 'bytes per second, at least 16KiB/s, e.g. 50MiB/s: split over the copies running, each given at least 16KiB/s (a lower rate runs fewer copies at once and holds the rest between frames); `unset` returns to apply --throttle'})}
  static override flags = {
    'keys-per-sec': keysRateOrUnsetFlag({description: 'redis engine: keys each move migrates per second, a whole number; `unset` returns to apply --keys-per-sec'}),
  }

  async run(): Promise<{control: Control; changed: boolean; message: string}> {
    const {args, flags} = await this.parse(ThrottleSet)
    if (args.rate === undefined && flags['keys-per-sec'] === undefined) throw new UserError('BAD_INPUT', 'throttle set needs a byte rate, --keys-per-sec, or both', 'e.g. shardctl throttle set 50MiB/s, or shardctl throttle set --keys-per-sec 2000')
    const keys = flags['keys-per-sec']
    let rate: number | null | undefined
    if (args.rate !== undefined && args.rate !== 'unset') {
      try {
        rate = parseRate(args.rate)
      } catch (err) {
        throw new UserError('BAD_INPUT', (err as Error).message, 'e.g. shardctl throttle set 50MiB/s')
      }
    } else if (args.rate === 'unset') rate = null
    const ctx = await this.services(flags)
    // Before either is written: a refused --keys-per-sec leaves the byte rate unchanged too.
    if (typeof keys === 'number') await refuseKeysRateOnKv(ctx)
    let result: {control: Control; changed: boolean; message: string} | undefined
    const messages: string[] = []
    if (rate !== undefined) messages.push((result = await setThrottle(ctx, rate)).message)
    if (keys !== undefined) {
      const k = await setKeysThrottle(ctx, keys)
      messages.push(k.message)
      result = {...k, changed: k.changed || (result?.changed ?? false)}
    }
    if (!result) throw new UserError('BAD_INPUT', 'nothing to set')
    result.message = messages.join('; ')
    this.log(result.message)
    return result
  }
}
