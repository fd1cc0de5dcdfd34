import {Flags} from '@oclif/core'
import {BaseCommand} from '../../src/cli/baseCommand.js'
import {type CertFilesResult, createCaFiles} from '../../src/security/certFiles.js'

export default class CertCreateCa extends BaseCommand {
  static override summary = 'Create the cluster CA (ca.crt, ca.key) that signs node and client certificates.'
  static override description = 'ECDSA P-256, self-signed, pathlen 0. The key is written 0600; keep it off the data-plane machines. Refuses to replace an existing CA without --force (every certificate it signed would stop working). To rotate: create a new CA in another directory, serve both in a bundle (cat old/ca.crt new/ca.crt > ca.crt), reissue, then drop the old one.'
  static override examples = ['<%= config.bin %> cert create-ca --certs-dir ./certs']
  static override flags = {
    'certs-dir': Flags.string({description: 'directory of the cluster PKI', default: './certs', env: 'SHARDCTL_CERTS_DIR'}),
    'common-name': Flags.string({description: 'CN of the CA', default: 'shardctl-ca'}),
    days: Flags.integer({description: 'lifetime in days', default: 3650, min: 1, max: 3650}),
    force: Flags.boolean({description: 'replace an existing CA'}),
  }

  async run(): Promise<CertFilesResult> {
    const {flags} = await this.parse(CertCreateCa)
    const out = await createCaFiles({dir: flags['certs-dir'], days: flags.days, force: flags.force, now: new Date(), commonName: flags['common-name']})
    this.log(`wrote ${out.cert} and ${out.key} (0600), valid until ${out.notAfter}`)
    return out
  }
}
