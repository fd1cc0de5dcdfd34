import {Args, Flags} from '@oclif/core'
import {BaseCommand} from '../../src/cli/baseCommand.js'
import {type CertFilesResult, createLeafFiles} from '../../src/security/certFiles.js'

export default class CertCreateClient extends BaseCommand {
  static override summary = 'Issue a client certificate (executor, kv, a router user), signed by the cluster CA.'
  static override description = 'CN = the name (a router user with --certificate of that name is authenticated by it), clientAuth only. Written as client.<name>.crt / client.<name>.key (0600) in --certs-dir.'
  static override examples = ['<%= config.bin %> cert create-client executor', '<%= config.bin %> cert create-client alice --days 30']
  static override args = {name: Args.string({description: 'node id, router id or user name', required: true})}
  static override flags = {
    'certs-dir': Flags.string({description: 'directory of the cluster PKI (holds ca.crt and ca.key)', default: './certs', env: 'SHARDCTL_CERTS_DIR'}),
    days: Flags.integer({description: 'lifetime in days', default: 365, min: 1, max: 3650}),
    force: Flags.boolean({description: 'replace existing files'}),
  }

  async run(): Promise<CertFilesResult> {
    const {args, flags} = await this.parse(CertCreateClient)
    const out = await createLeafFiles('client', args.name, [], {dir: flags['certs-dir'], days: flags.days, force: flags.force, now: new Date()})
    this.log(`wrote ${out.cert} and ${out.key} (0600), valid until ${out.notAfter}`)
    return out
  }
}
