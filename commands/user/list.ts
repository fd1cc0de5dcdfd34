import {EtcdCommand} from '../../src/cli/baseCommand.js'
import {renderTable} from '../../src/cli/table.js'
import {listUsers, type UserView} from '../../src/security/userService.js'

export default class UserList extends EtcdCommand {
  static override summary = 'List router users (token ids only, never tokens or hashes).'
  static override examples = ['<%= config.bin %> user list --json']

  async run(): Promise<UserView[]> {
    const {flags} = await this.parse(UserList)
    const users = await listUsers(await this.services(flags))
    this.log(renderTable(['USER', 'ROLES', 'TOKENS', 'CERTIFICATE'], users.map((u) => [u.name, u.roles.join(','), u.tokens.map((t) => t.id).join(',') || '-', u.certificate ? 'yes' : 'no'])))
    return users
  }
}
