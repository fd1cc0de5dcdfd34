import {Args, Flags} from '@oclif/core'
import {BaseCommand} from '../../src/cli/baseCommand.js'
import {type CertFilesResult, createLeafFiles} from '../../src/security/certFiles.js'

export default class CertCreateNode extends BaseCommand {
  static override summary = 'Issue a node certificate (serves and dials: nodes and routers), signed by the cluster CA.'
  static override description = 'CN = the name, every --host as a SAN, serverAuth and clientAuth. Written as node.<name>.crt / node.<name>.key (0600) in --certs-dir.'
  static override examples = ['<%= config.bin %> cert create-node n1 --host 127.0.0.1 --host localhost', '<%= config.bin %> cert create-node r1 --host 10.0.0.7 --host router.internal']
  static override args = {name: Args.string({description: 'node id, router id or user name', required: true})}
  static override flags = {
    host: Flags.string({description: 'IP or DNS name peers dial it at (repeatable): the certificate is valid for these only', multiple: true, required: true}),
    'certs-dir': Flags.string({description: 'directory of the cluster PKI (holds ca.crt and ca.key)', default: './certs', env: 'SHARDCTL_CERTS_DIR'}),
    days: Flags.integer({description: 'lifetime in days', default: 365, min: 1, max: 3650}),
    force: Flags.boolean({description: 'replace existing files'}),
  }

  async run(): Promise<CertFilesResult> {
    const {args, flags} = await this.parse(CertCreateNode)
    const out = await createLeafFiles('node', args.name, flags.host, {dir: flags['certs-dir'], days: flags.days, force: flags.force, now: new Date()})
    this.log(`wrote ${out.cert} and ${out.key} (0600), valid until ${out.notAfter}`)
    return out
  }
}
