import {EtcdCommand} from '../../src/cli/baseCommand.js'
import {renderTable} from '../../src/cli/table.js'
import {listRoles, type RoleView} from '../../src/security/userService.js'

export default class RoleList extends EtcdCommand {
  static override summary = 'List router roles.'
  static override examples = ['<%= config.bin %> role list --json']

  async run(): Promise<RoleView[]> {
    const {flags} = await this.parse(RoleList)
    const roles = await listRoles(await this.services(flags))
    this.log(renderTable(['ROLE', 'ACCESS', 'PREFIXES'], roles.map((r) => [r.name, r.access, r.prefixes.map((p) => JSON.stringify(p)).join(' ')])))
    return roles
  }
}
