import {Args} from '@oclif/core'
import {EtcdCommand} from '../../src/cli/baseCommand.js'
import {revokeToken, type UserView} from '../../src/security/userService.js'

export default class UserRevokeToken extends EtcdCommand {
  static override summary = "Revoke one of a user's tokens by id (see `user list`); it stops working within about a second."
  static override examples = ['<%= config.bin %> user revoke-token alice 1f2e3d4c']
  static override args = {name: Args.string({description: 'user name', required: true}), id: Args.string({description: 'token id', required: true})}

  async run(): Promise<UserView & {changed: boolean}> {
    const {args, flags} = await this.parse(UserRevokeToken)
    const {user, changed, message} = await revokeToken(await this.services(flags), args.name, args.id)
    this.log(message)
    return {...user, changed}
  }
}
