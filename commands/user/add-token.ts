import {Args, Flags} from '@oclif/core'
import {EtcdCommand} from '../../src/cli/baseCommand.js'
import {UserError} from '../../src/errors/errors.js'
import {createWithSecretFile} from '../../src/security/secretFile.js'
import {addToken, type UserView} from '../../src/security/userService.js'

export default class UserAddToken extends EtcdCommand {
  static override summary = "Give a user a second token (rotation: move clients to it, then revoke the old one)."
  static override examples = ['<%= config.bin %> user add-token alice --token-file ./alice.next.token']
  static override args = {name: Args.string({description: 'user name', required: true})}
  static override flags = {'token-file': Flags.string({description: 'new file (0600) to write the token to', required: true})}

  async run(): Promise<UserView> {
    const {args, flags} = await this.parse(UserAddToken)
    if (!flags['token-file']) throw new UserError('BAD_INPUT', '--token-file is required')
    const ctx = await this.services(flags)
    // The file first: a token recorded whose file then failed would be a secret shown nowhere.
    const {user} = await createWithSecretFile(flags['token-file'], '--token-file', () => addToken(ctx, args.name))
    this.log(`user ${user.name}: token ${user.tokens.at(-1)!.id} written to ${flags['token-file']}; revoke the old one with \`shardctl user revoke-token ${user.name} ${user.tokens[0]!.id}\` once clients use the new one`)
    return user
  }
}
