import {Args} from '@oclif/core'
import {EtcdCommand} from '../../src/cli/baseCommand.js'
import {removeRole} from '../../src/security/userService.js'

export default class RoleRemove extends EtcdCommand {
  static override summary = 'Remove a router role; users naming it lose what it granted.'
  static override examples = ['<%= config.bin %> role remove reader']
  static override args = {name: Args.string({description: 'role name', required: true})}

  async run(): Promise<{name: string; removed: boolean}> {
    const {args, flags} = await this.parse(RoleRemove)
    const removed = await removeRole(await this.services(flags), args.name)
    this.log(removed ? `removed role ${args.name}` : `role ${args.name} already absent`)
    return {name: args.name, removed}
  }
}
