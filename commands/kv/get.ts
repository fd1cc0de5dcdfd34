import {Args} from '@oclif/core'
import {EtcdCommand} from '../../src/cli/baseCommand.js'
import {DATA_PLANE_TLS_FLAGS, ROUTER_CREDENTIAL_FLAGS, routerAddressFlag, tlsPathsOf} from '../../src/cli/flags.js'
import {loadRouterCredentials} from '../../src/security/clientCredentials.js'
import {type KvGetOutput, kvGet} from '../../src/router/kvService.js'

export default class KvGet extends EtcdCommand {
  static override summary = 'Read a key through a router; prints the value bytes.'
  static override examples = ['<%= config.bin %> kv get user:42 --router 127.0.0.1:7000', '<%= config.bin %> kv get user:42 --json']
  static override args = {key: Args.string({description: 'the key', required: true})}
  static override flags = {router: routerAddressFlag({description: 'router host:port (default: a live router registered in etcd)', env: 'SHARDCTL_ROUTER'}), ...DATA_PLANE_TLS_FLAGS, ...ROUTER_CREDENTIAL_FLAGS}

  async run(): Promise<KvGetOutput> {
    const {args, flags} = await this.parse(KvGet)
    const {output, raw} = await kvGet({router: flags.router, services: () => this.services(flags), credentials: loadRouterCredentials(tlsPathsOf(flags), flags['auth-token-file'])}, args.key)
    if (!this.jsonEnabled()) process.stdout.write(raw)
    return output
  }
}
