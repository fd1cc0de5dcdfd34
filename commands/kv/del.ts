import {Args} from '@oclif/core'
import {EtcdCommand} from '../../src/cli/baseCommand.js'
import {DATA_PLANE_TLS_FLAGS, ROUTER_CREDENTIAL_FLAGS, routerAddressFlag, tlsPathsOf} from '../../src/cli/flags.js'
import {loadRouterCredentials} from '../../src/security/clientCredentials.js'
import {deleteLine, type KvWriteOutput, kvDel} from '../../src/router/kvService.js'

export default class KvDel extends EtcdCommand {
  static override summary = 'Delete a key through a router (writes a tombstone; deleting an absent or already deleted key succeeds and says it was not there).'
  static override examples = ['<%= config.bin %> kv del user:42 --router 127.0.0.1:7000']
  static override args = {key: Args.string({description: 'the key', required: true})}
  static override flags = {router: routerAddressFlag({description: 'router host:port (default: a live router registered in etcd)', env: 'SHARDCTL_ROUTER'}), ...DATA_PLANE_TLS_FLAGS, ...ROUTER_CREDENTIAL_FLAGS}

  async run(): Promise<KvWriteOutput> {
    const {args, flags} = await this.parse(KvDel)
    const out = await kvDel({router: flags.router, services: () => this.services(flags), credentials: loadRouterCredentials(tlsPathsOf(flags), flags['auth-token-file'])}, args.key)
    this.log(deleteLine(out))
    return out
  }
}

