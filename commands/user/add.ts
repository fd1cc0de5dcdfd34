import {Args, Flags} from '@oclif/core'
import {EtcdCommand} from '../../src/cli/baseCommand.js'
import {UserError} from '../../src/errors/errors.js'
import {createWithSecretFile} from '../../src/security/secretFile.js'
import {addUser, type UserView} from '../../src/security/userService.js'

export default class UserAdd extends EtcdCommand {
  static override summary = 'Add a router user with roles; its token goes to a 0600 file, never to the screen.'
  static override description = 'The user authenticates with `authorization: Bearer <token>` (kv: --auth-token-file) and/or, with --certificate, a client certificate of the cluster CA whose CN is the user name (`shardctl cert create-client NAME`). Only the sha256 of the token is stored in etcd. Routers apply the change within about a second.'
  static override examples = ['<%= config.bin %> user add alice --role reader --token-file ./alice.token', '<%= config.bin %> user add svc --role writer --certificate --no-token']
  static override args = {name: Args.string({description: 'user name', required: true})}
  static override flags = {
    role: Flags.string({description: 'role the user holds (repeatable)', multiple: true, required: true}),
    'token-file': Flags.string({description: 'new file (0600) to write the token to; required unless --no-token'}),
    token: Flags.boolean({description: 'give the user a token', default: true, allowNo: true}),
    certificate: Flags.boolean({description: 'accept a client certificate with CN = the user name', default: false}),
  }

  async run(): Promise<UserView> {
    const {args, flags} = await this.parse(UserAdd)
    if (flags.token && !flags['token-file']) throw new UserError('BAD_INPUT', '--token-file is required to receive the token; nothing was changed', 'e.g. --token-file ./alice.token (or --no-token --certificate)')
    const ctx = await this.services(flags)
    // The file first: a user recorded with a token whose file then failed would hold a secret shown nowhere.
    const {user, token} = await createWithSecretFile(flags.token ? flags['token-file'] : undefined, '--token-file', () => addUser(ctx, args.name, flags.role, {token: flags.token, certificate: flags.certificate}))
    this.log(`added user ${user.name} (roles ${user.roles.join(', ')})${token ? `; token ${user.tokens[0]!.id} written to ${flags['token-file']}` : ''}${user.certificate ? '; client certificate CN accepted' : ''}`)
    return user
  }
}
