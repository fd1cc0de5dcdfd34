import {Flags} from '@oclif/core'
import {EtcdCommand} from '../../src/cli/baseCommand.js'
import {type ClusterSecurity, setClusterSecurity} from '../../src/security/clusterSecurity.js'

export default class ClusterSecurityCommand extends EtcdCommand {
  static override summary = "Show or change the cluster's security switches: TLS-only, and authentication on routers."
  static override description = 'With --tls-only, nodes, routers, the executor and repair refuse to start without --tls-cert/--tls-key/--tls-ca (restart running ones with certificates first). With --auth, routers answer 401 to /kv and /metrics requests without a user token or client certificate, and 403 outside the user\'s roles, within about a second. Without flags: show them.'
  static override examples = ['<%= config.bin %> cluster security', '<%= config.bin %> cluster security --tls-only --auth', '<%= config.bin %> cluster security --no-auth']
  static override flags = {
    'tls-only': Flags.boolean({description: 'require TLS on every data-plane hop', allowNo: true}),
    auth: Flags.boolean({description: 'require router users (tokens or client certificates)', allowNo: true}),
  }

  async run(): Promise<ClusterSecurity & {changed: boolean}> {
    const {flags} = await this.parse(ClusterSecurityCommand)
    const ctx = await this.services(flags)
    const {security, changed} = await setClusterSecurity(ctx, {tlsOnly: flags['tls-only'], authRequired: flags.auth})
    // Without flags this only shows the switches: "already:" would read as if something had been asked.
    const shown = flags['tls-only'] === undefined && flags.auth === undefined
    this.log(`${shown ? `cluster ${ctx.cluster}` : changed ? 'now' : 'already'}: tls-only ${security.tlsOnly ? 'on' : 'off'}, authentication ${security.authRequired ? 'on' : 'off'}`)
    return {...security, changed}
  }
}
