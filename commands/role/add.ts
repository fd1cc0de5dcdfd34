import {Args, Flags} from '@oclif/core'
import {EtcdCommand} from '../../src/cli/baseCommand.js'
import {ACCESS_LEVELS} from '../../src/security/accessControl.js'
import {putRole, type RoleView} from '../../src/security/userService.js'

export default class RoleAdd extends EtcdCommand {
  static override summary = 'Create or replace a router role: an access level on key prefixes.'
  static override description = 'read: GET; write: GET, PUT, DELETE; admin: those plus /metrics. A key is covered when it starts with one of the --prefix values ("" covers every key). Routers apply the change within about a second.'
  static override examples = ['<%= config.bin %> role add reader --access read --prefix app/', '<%= config.bin %> role add ops --access admin --prefix ""']
  static override args = {name: Args.string({description: 'role name', required: true})}
  static override flags = {
    access: Flags.string({description: 'what the role allows', options: [...ACCESS_LEVELS], required: true}),
    prefix: Flags.string({description: 'key prefix the role covers (repeatable; "" = every key)', multiple: true, required: true}),
  }

  async run(): Promise<RoleView & {changed: boolean}> {
    const {args, flags} = await this.parse(RoleAdd)
    const {role, changed, message} = await putRole(await this.services(flags), args.name, flags.access as (typeof ACCESS_LEVELS)[number], flags.prefix)
    this.log(message)
    return {...role, changed}
  }
}
