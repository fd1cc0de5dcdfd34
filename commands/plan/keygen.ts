import {Flags} from '@oclif/core'
import {BaseCommand} from '../../src/cli/baseCommand.js'
import {type KeygenResult, writeSigningKeyPair} from '../../src/plans/signingKeys.js'

export default class PlanKeygen extends BaseCommand {
  static override summary = 'Create an Ed25519 key pair for signing plans.'
  static override description = 'Writes <out>.key (private, PKCS#8 PEM, mode 0600) and <out>.pub (public, SPKI PEM). Sign plans with `plan --sign <out>.key`; make apply refuse anything else with `apply --require-signature <out>.pub`. Refuses to overwrite existing files.'
  static override examples = ['<%= config.bin %> plan keygen --out ci-plan']
  static override flags = {
    out: Flags.string({description: 'path prefix of the two files', required: true}),
  }

  async run(): Promise<KeygenResult> {
    const {flags} = await this.parse(PlanKeygen)
    const result = writeSigningKeyPair(flags.out)
    this.log(`key ${result.keyId}: private ${result.privateKeyFile}, public ${result.publicKeyFile}`)
    return result
  }
}
