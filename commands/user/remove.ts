import {Args} from '@oclif/core'
import {EtcdCommand} from '../../src/cli/baseCommand.js'
import {removeUser} from '../../src/security/userService.js'

export default class UserRemove extends EtcdCommand {
  static override summary = 'Remove a router user; its tokens stop working within about a second.'
  static override examples = ['<%= config.bin %> user remove alice']
  static override args = {name: Args.string({description: 'user name', required: true})}

  async run(): Promise<{name: string; removed: boolean}> {
    const {args, flags} = await this.parse(UserRemove)
    const removed = await removeUser(await this.services(flags), args.name)
    this.log(removed ? `removed user ${args.name}` : `user ${args.name} already absent`)
    return {name: args.name, removed}
  }
}
